import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { RateLimit } from "../transfer/index.ts";

// Small enough that a part goes out at the cap over any tenth of a second, large enough to cost nothing per chunk.
const CHUNK = 64 * 1024;

/** A command with a body whose request can be changed before it is signed (PutObject, UploadPart). */
interface WithBody {
  input: { Body?: unknown };
  middlewareStack: { add(middleware: never, options: { step: "build"; name: string }): void };
}

/**
 * The body of a part or PUT under the run's `--max-rate`: handed to the socket chunk by chunk, each after its
 * share of the one budget (shared with the downloads), so a 64 MB part goes out at the cap instead of in one burst
 * after one wait. Without a cap the buffer goes as it is. A paced body is signed with its SHA-256 all the same
 * (a stream would otherwise go out as UNSIGNED-PAYLOAD), so the store checks the bytes as before.
 */
export function withBody<C extends WithBody>(command: C, body: Buffer, rate: RateLimit | undefined, signal?: AbortSignal): C {
  command.input.Body = rate ? pacedStream(body, rate, signal) : body;
  if (!rate) return command;
  const sha256 = createHash("sha256").update(body).digest("hex");
  command.middlewareStack.add(
    ((next: (args: { request: unknown }) => Promise<unknown>) => (args: { request: unknown }) => {
      const headers = (args.request as { headers?: Record<string, string> }).headers;
      if (headers) headers["x-amz-content-sha256"] = sha256;
      return next(args);
    }) as never,
    { step: "build", name: "pacedBodyPayloadHash" },
  );
  return command;
}

function pacedStream(body: Buffer, rate: RateLimit, signal: AbortSignal | undefined): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    for (let at = 0; at < body.length; at += CHUNK) {
      const chunk = body.subarray(at, Math.min(body.length, at + CHUNK));
      await rate.acquire(chunk.length, signal);
      yield chunk;
    }
  }
  return Readable.from(chunks(), { objectMode: false, highWaterMark: CHUNK });
}
