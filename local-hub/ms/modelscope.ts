import type { IncomingMessage, ServerResponse } from "node:http";
import type { HubContext } from "../context.ts";
import { handleFiles, handleModelInfo, handleRevisions, type MsTarget } from "./api.ts";
import { handleDownload } from "./download.ts";
import { MS_CODES, sendEnvelopeError } from "./reply.ts";

type Handler = (req: IncomingMessage, res: ServerResponse, ctx: HubContext, target: MsTarget) => void;

// Keyed by the path after `/api/v1/models/{owner}/{name}` and the method.
const ROUTES: Record<string, Handler> = {
  "GET ": handleModelInfo,
  "GET /revisions": handleRevisions,
  "GET /repo/files": handleFiles,
  "GET /repo": handleDownload,
  "HEAD /repo": handleDownload,
};

/**
 * Routes a hub-listener request to the emulated ModelScope API (`/api/v1/models/…`, which never collides with
 * HF's `/api/models/…`); returns false for any other URL. Query values are quote_plus-encoded (`+` = space),
 * which URLSearchParams decodes.
 */
export function handleModelScope(req: IncomingMessage, res: ServerResponse, ctx: HubContext): boolean {
  const url = new URL(req.url ?? "/", ctx.hubUrl);
  const [first, api, version, models, owner, name, ...rest] = url.pathname.split("/");
  if (first !== "" || api !== "api" || version !== "v1" || models !== "models" || !owner || !name) return false;
  const handler = ROUTES[`${req.method ?? "GET"} ${rest.map((s) => `/${s}`).join("")}`];
  if (!handler) return false;
  let repoId: string;
  try {
    repoId = `${decodeURIComponent(owner)}/${decodeURIComponent(name)}`;
  } catch {
    sendEnvelopeError(res, 400, MS_CODES.badRequest, "Malformed percent-encoding in URL");
    return true;
  }
  handler(req, res, ctx, { repoId, url });
  return true;
}
