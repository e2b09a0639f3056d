import type { IncomingMessage, ServerResponse } from "node:http";
import { Transform, type Readable } from "node:stream";
import { flipByteAt } from "./repo.ts";

/** Probabilities, per file response, of each way a real server or network fails (independent rolls, in order). */
export interface FaultMix {
  /** The socket is destroyed before any byte (ECONNRESET). */
  reset?: number;
  /** 500/502/503 instead of the file. */
  error5xx?: number;
  /** 429 with `Retry-After`. */
  rateLimit?: number;
  /** Part of the body, then the socket is destroyed. */
  drop?: number;
  /** Correct headers and Content-Length, part of the body, then the connection is closed cleanly. */
  truncate?: number;
  /** Part of the body, then nothing: the connection stays open and silent. */
  stall?: number;
  /** More bytes than asked for, with a Content-Length that says so. */
  overflow?: number;
  /** One byte of the body flipped. */
  flip?: number;
  /** `Retry-After` seconds sent with 429. @default 1 */
  retryAfterSeconds?: number;
  /** Seed of the deterministic random sequence. @default 1 */
  seed?: number;
}

export type Fault = "reset" | "error5xx" | "rateLimit" | "drop" | "truncate" | "stall" | "overflow" | "flip";
const ORDER: Fault[] = ["reset", "error5xx", "rateLimit", "drop", "truncate", "stall", "overflow", "flip"];

/** mulberry32: small, seeded, good enough to pick faults reproducibly. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function pickFault(mix: FaultMix, random: () => number): Fault | undefined {
  for (const f of ORDER) if ((mix[f] ?? 0) > 0 && random() < mix[f]!) return f;
  return undefined;
}

/** Answer a file request with `fault` instead of the bytes; returns false for the faults applied to the body. */
export function answerFault(
  fault: Fault,
  req: IncomingMessage,
  res: ServerResponse,
  mix: FaultMix,
  random: () => number,
): boolean {
  switch (fault) {
    case "reset":
      req.socket.destroy();
      return true;
    case "error5xx":
      res.writeHead([500, 502, 503][Math.floor(random() * 3)]!, { "content-type": "text/plain" }).end("injected server error");
      return true;
    case "rateLimit":
      res.writeHead(429, { "retry-after": String(mix.retryAfterSeconds ?? 1), "content-type": "text/plain" }).end("injected rate limit");
      return true;
    default:
      return false;
  }
}

/**
 * Apply a body fault: the stream of `length` bytes is cut, stalled, padded or altered. `finish` receives the
 * stream to pipe (possibly altered) and what to do with the response when that stream ends.
 */
export function faultyBody(
  fault: Fault,
  body: Readable,
  length: number,
  random: () => number,
): { stream: Readable; extraBytes: number; atEnd: "end" | "destroy" | "close" | "hang" } {
  const cut = Math.floor(random() * Math.max(1, length - 1));
  switch (fault) {
    case "drop":
    case "truncate":
    case "stall": {
      let sent = 0;
      const limiter = new Transform({
        transform(chunk: Buffer, _e, cb) {
          const room = cut - sent;
          if (room <= 0) return cb();
          sent += Math.min(room, chunk.length);
          cb(null, chunk.length > room ? chunk.subarray(0, room) : chunk);
        },
      });
      return { stream: body.pipe(limiter), extraBytes: 0, atEnd: fault === "drop" ? "destroy" : fault === "truncate" ? "close" : "hang" };
    }
    case "overflow": {
      const extra = 1 + Math.floor(random() * 4096);
      const pad = new Transform({
        transform: (chunk: Buffer, _e, cb) => cb(null, chunk),
        flush(cb) {
          cb(null, Buffer.alloc(extra, 0x5a));
        },
      });
      return { stream: body.pipe(pad), extraBytes: extra, atEnd: "end" };
    }
    case "flip":
      return { stream: body.pipe(flipByteAt(cut)), extraBytes: 0, atEnd: "end" };
    default:
      return { stream: body, extraBytes: 0, atEnd: "end" };
  }
}
