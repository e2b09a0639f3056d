import type { IncomingMessage, ServerResponse } from "node:http";
import { pipeline } from "node:stream";
import type { HubContext } from "./context.ts";
import { parseRange } from "./range.ts";
import { answerFault, faultyBody, pickFault } from "./faults.ts";
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
  const fault = req.method === "GET" && ctx.faults ? pickFault(ctx.faults.mix, ctx.faults.random) : undefined;
  if (fault) ctx.faults!.count(fault);
  if (fault && answerFault(fault, req, res, ctx.faults!.mix, ctx.faults!.random)) return;
  const source = file.read(start, end);
  const shaped = fault ? faultyBody(fault, source, end - start, ctx.faults!.random) : { stream: source, extraBytes: 0, atEnd: "end" as const };
  res.writeHead(range.kind === "partial" ? 206 : 200, { ...base, "Content-Length": String(end - start + shaped.extraBytes) });
  if (req.method === "HEAD") {
    source.destroy();
    res.end();
    return;
  }
  const body = shaped.stream;
  body.on("data", (chunk: Buffer) => ctx.countBytes(chunk.length));
  const throttled = ctx.shaper.throttle(req.socket);
  const stages: NodeJS.ReadWriteStream[] = throttled ? [throttled] : [];
  if (shaped.atEnd !== "end") {
    // Faults that cut the body: send what there is, then break the connection the chosen way.
    const out = stages.reduce<NodeJS.ReadableStream>((s, stage) => s.pipe(stage), body);
    out.on("data", (chunk: Buffer) => res.write(chunk));
    out.on("end", () => {
      if (shaped.atEnd === "destroy") req.socket.destroy();
      else if (shaped.atEnd === "close") req.socket.end();
      // "hang": leave the socket open and silent
    });
    return;
  }
  // A client that hangs up mid-body is normal (aborted or resumed downloads); just tear down.
  pipeline([body, ...stages, res], () => {});
}
