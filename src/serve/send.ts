import { constants } from "node:fs";
import { open } from "node:fs/promises";
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";

/** Read size per chunk: big reads keep the per-chunk cost (one read, one socket write) small against the bytes. */
const CHUNK = 512 * 1024;

export interface JsonAnswer {
  status: number;
  body: unknown;
  headers?: OutgoingHttpHeaders;
}

export function sendJson(res: ServerResponse, { status, body, headers = {} }: JsonAnswer): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text), ...headers });
  res.end(res.req.method === "HEAD" ? undefined : text);
}

export type ByteRange = { start: number; end: number } | "unsatisfiable" | undefined;

/**
 * One `bytes=a-b | a- | -n` range, clamped to the size; undefined (whole body) for none, several or a malformed one.
 * A start at or past the end is unsatisfiable, except on an empty file, where `bytes=0-0` gets `bytes *\/0` (a
 * client that probes the size with it needs a total it can parse).
 */
export function parseRange(header: string | undefined, size: number): ByteRange {
  if (!header) return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    const n = Number(m[2]);
    if (n === 0) return size === 0 ? { start: 0, end: -1 } : "unsatisfiable";
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== "" && Number(m[2]) < start) return undefined;
  if (size === 0) return { start: 0, end: -1 };
  if (start >= size) return "unsatisfiable";
  return { start, end };
}

export interface StoredFileAnswer {
  file: { disk: string; size: number };
  headers: OutgoingHttpHeaders;
  /** Answers instead when the file is gone or changed on disk since the store was read. */
  onGone: () => void;
}

/**
 * Stream a stored file (whole or one range) with backpressure: 200/206/416 and the caller's headers on every one.
 * Opened without following a final symlink, and checked to still be a regular file of the listed size, so a file
 * swapped after the store was read is refused rather than served. Returns the body bytes sent (for the access log).
 */
export async function sendStoredFile(req: IncomingMessage, res: ServerResponse, { file, headers, onGone }: StoredFileAnswer): Promise<number> {
  const range = parseRange(req.headers["if-range"] && req.headers["if-range"] !== headers.etag ? undefined : req.headers.range, file.size);
  const base = { ...headers, "accept-ranges": "bytes", "content-type": "application/octet-stream" };
  if (range === "unsatisfiable") {
    res.writeHead(416, { ...base, "content-range": `bytes */${file.size}`, "content-length": 0 });
    res.end();
    return 0;
  }
  const start = range ? range.start : 0;
  const end = range ? range.end : file.size - 1;
  const length = end - start + 1;
  const status = range ? 206 : 200;
  const rangeHeader = range ? { "content-range": length > 0 ? `bytes ${start}-${end}/${file.size}` : `bytes */${file.size}` } : {};
  if (req.method === "HEAD" || length === 0) {
    res.writeHead(status, { ...base, ...rangeHeader, "content-length": req.method === "HEAD" && !range ? file.size : length });
    res.end();
    return 0;
  }
  let handle;
  try {
    handle = await open(file.disk, constants.O_RDONLY | constants.O_NOFOLLOW);
    const st = await handle.stat();
    if (!st.isFile() || st.size !== file.size) throw new Error("changed on disk");
  } catch {
    await handle?.close().catch(() => {});
    onGone();
    return 0;
  }
  res.writeHead(status, { ...base, ...rangeHeader, "content-length": length });
  let sent = 0;
  let closed = false;
  const gone = new Promise<void>((resolve) => res.once("close", () => ((closed = true), resolve())));
  const bufs = [takeBuffer(), takeBuffer()];
  try {
    let pos = start;
    let previous: Promise<unknown> = Promise.resolve();
    // Two reused buffers: one is read from the page cache while the other is written to the socket. No buffer is
    // allocated per chunk (large allocations cost page faults and GC), and at most two are held per response.
    for (let k = 0; pos <= end && !closed; k++) {
      const buf = bufs[k & 1]!;
      const want = Math.min(buf.length, end + 1 - pos);
      const { bytesRead } = await handle.read(buf, 0, want, pos);
      if (bytesRead === 0) throw new Error("file shrank while being served");
      pos += bytesRead;
      await Promise.race([previous, gone]);
      if (closed) break;
      const chunk = bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
      previous = new Promise<void>((resolve, reject) => res.write(chunk, (error) => (error ? reject(error) : resolve())));
      sent += bytesRead;
    }
    await Promise.race([previous, gone]);
    if (!closed) await new Promise<void>((resolve) => res.end(resolve));
  } catch {
    // A read error mid-body: the length promised cannot be kept, so the connection is cut (the client sees it short).
    res.destroy();
  } finally {
    // Buffers go back only once nothing can still be writing from them.
    void Promise.race([gone, new Promise((r) => setTimeout(r, 0))]).then(() => bufs.forEach(giveBuffer));
    await handle.close().catch(() => {});
  }
  return sent;
}

const free: Buffer[] = [];
/** Idle buffers kept for the next responses; beyond that they are left to the GC. */
const FREE_MAX = 64;
const takeBuffer = () => free.pop() ?? Buffer.allocUnsafeSlow(CHUNK);
const giveBuffer = (b: Buffer) => {
  if (free.length < FREE_MAX) free.push(b);
};
