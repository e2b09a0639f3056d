import type { IncomingMessage, ServerResponse } from "node:http";
import { pipeline } from "node:stream";
import type { HubContext } from "./context.ts";
import { parseRange } from "./range.ts";
import { throttle } from "./throttle.ts";
import type { Headers } from "./reply.ts";
import type { HubFile } from "./repo.ts";

/** Answers GET/HEAD for a file's bytes: 200, 206 for a satisfiable Range, 416 otherwise. */
export function serveFile(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: HubContext,
  file: HubFile,
  headers: Headers,
): void {
  const base: Headers = { ...headers, "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream" };
  const range = parseRange(req.headers.range, file.size);
  if (range.kind === "unsatisfiable") {
    res.writeHead(416, { ...base, "Content-Range": `bytes */${file.size}`, "Content-Length": "0" });
    res.end();
    return;
  }
  const start = range.kind === "partial" ? range.start : 0;
  const end = range.kind === "partial" ? range.endInclusive + 1 : file.size;
  if (range.kind === "partial") {
    base["Content-Range"] = `bytes ${start}-${end - 1}/${file.size}`;
  }
  res.writeHead(range.kind === "partial" ? 206 : 200, { ...base, "Content-Length": String(end - start) });
  if (req.method === "HEAD") {
    res.end();
    return;
  }
  const body = file.read(start, end);
  body.on("data", (chunk: Buffer) => ctx.countBytes(chunk.length));
  // A client that hangs up mid-body is normal (aborted or resumed downloads); just tear down.
  if (ctx.bandwidthPerConnection) pipeline(body, throttle(req.socket, ctx.bandwidthPerConnection), res, () => {});
  else pipeline(body, res, () => {});
}
