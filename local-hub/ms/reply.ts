import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import { sendJson } from "../reply.ts";

/** `Code` values of failed envelopes. Only "not 200" matters to clients; the numbers mimic ModelScope's. */
export const MS_CODES = {
  modelNotFound: 10010205,
  revisionNotFound: 10010202,
  fileNotFound: 10010203,
  badRequest: 10010400,
} as const;

/** Every `/api/v1` answer: `{Code, Data, Message, RequestId, Success}`. */
export function sendEnvelope(res: ServerResponse, data: unknown): void {
  sendJson(res, 200, { Code: 200, Data: data, Message: "success", RequestId: randomUUID(), Success: true });
}

/**
 * A failed envelope with `Data: null`. ModelScope sends some failures (an unknown revision) as HTTP 200 with
 * `Code != 200`, others (an unknown or hidden model) as a real 404; `status` picks which.
 */
export function sendEnvelopeError(res: ServerResponse, status: number, code: number, message: string): void {
  sendJson(res, status, { Code: code, Data: null, Message: message, RequestId: randomUUID(), Success: false });
}
