import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { VerifyReadError } from "../errors.ts";

// The worker is plain JavaScript evaluated from this string, so that it runs the same from src/ (tests, tsx)
// and from the compiled dist/ without a TypeScript loader inside the worker.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const { readSync } = require("node:fs");
const jobs = new Map();
const buffer = Buffer.allocUnsafe(1 << 20);
function advance(job, upTo) {
  while (job.pos < upTo) {
    const n = readSync(job.fd, buffer, 0, Math.min(buffer.length, upTo - job.pos), job.pos);
    if (n <= 0) throw new Error("short read at " + job.pos);
    job.hash.update(buffer.subarray(0, n));
    job.pos += n;
  }
}
function start(m) {
  const hash = createHash(m.algorithm);
  if (m.header) hash.update(m.header);
  jobs.set(m.id, { fd: m.fd, hash, pos: 0, algorithm: m.algorithm, header: m.header });
}
parentPort.on("message", (m) => {
  const job = jobs.get(m.id);
  try {
    if (m.type === "start") start(m);
    else if (m.type === "drop") jobs.delete(m.id);
    else if (!job) {
      if (m.type === "finish") throw new Error("unknown hashing job");
      return;
    }
    else if (m.type === "reset") start({ ...job, id: m.id });
    else if (job.error) {
      // the first failure is kept and reported when the result is asked for
    } else if (m.type === "advance") advance(job, m.upTo);
    if (m.type === "finish") {
      if (!job.error) advance(job, m.size);
      if (job.error) throw job.error;
      parentPort.postMessage({ id: m.id, digest: job.hash.digest("hex"), bytes: job.pos });
    }
  } catch (error) {
    if (job && m.type !== "finish") job.error = error;
    else parentPort.postMessage({ id: m.id, error: String((error && error.message) || error) });
  }
});
`;

interface Reply {
  id: number;
  digest?: string;
  bytes?: number;
  error?: string;
}

/** One file being hashed in the background, by reading back what was written. */
export interface BackgroundHash {
  /** Bytes `[0, upTo)` are on disk: hash them when the worker gets to it. */
  advance(upTo: number): void;
  /** Start over (the bytes were discarded). */
  reset(): void;
  /** Hash up to `size` and return the hex digest and how many bytes went in. */
  finish(size: number): Promise<{ digest: string; bytes: number }>;
  /** Forget it (done, or the download failed). */
  drop(): void;
}

/** One file to hash in the background. */
export interface HashStart {
  /** Open for reading; the worker reads back what is written. */
  fd: number;
  algorithm: "sha256" | "sha1";
  /** Hashed before the content (git's blob header). */
  header?: string | undefined;
  /** Names the file in error messages. */
  label: string;
}

/**
 * Hashing of big files runs on worker threads reading back from the page cache, so the main thread only parses
 * and writes: on a 2-core machine that is what keeps sha256 verification from halving the download speed.
 */
export class HashPool {
  private workers: Worker[] = [];
  private next = 0;
  private ids = 0;
  private pending = new Map<number, { worker: Worker; label: string; resolve: (r: { digest: string; bytes: number }) => void; reject: (e: Error) => void }>();
  /** Workers that failed or exited, and why: their jobs' results are errors, and new jobs go to a new worker. */
  private dead = new Map<Worker, Error>();

  constructor(private readonly size = availableParallelism() > 4 ? 2 : 1) {}

  start({ fd, algorithm, header, label }: HashStart): BackgroundHash {
    const worker = this.worker();
    const id = ++this.ids;
    worker.postMessage({ type: "start", id, fd, algorithm, header });
    let last = 0;
    return {
      advance: (upTo) => {
        if (upTo <= last) return;
        last = upTo;
        worker.postMessage({ type: "advance", id, upTo });
      },
      reset: () => {
        last = 0;
        worker.postMessage({ type: "reset", id });
      },
      finish: (size) =>
        new Promise((resolve, reject) => {
          // A worker that died says so at once: a message posted to it would never be answered.
          const cause = this.dead.get(worker);
          if (cause) return reject(readError(label, cause.message, cause));
          this.pending.set(id, { worker, label, resolve, reject });
          worker.postMessage({ type: "finish", id, size });
        }),
      drop: () => worker.postMessage({ type: "drop", id }),
    };
  }

  async close(): Promise<void> {
    const workers = this.workers;
    this.workers = [];
    for (const w of workers) this.bury(w, new Error("the hashing threads were closed"));
    await Promise.all(workers.map((w) => w.terminate()));
  }

  /** A worker that failed, exited or was closed: its pending results fail with `error`, and so does any asked later. */
  private bury(w: Worker, error: Error): void {
    if (this.dead.has(w)) return;
    this.dead.set(w, error);
    this.workers = this.workers.filter((x) => x !== w);
    for (const [id, p] of this.pending) {
      if (p.worker !== w) continue;
      this.pending.delete(id);
      p.reject(readError(p.label, error.message, error));
    }
  }

  private worker(): Worker {
    if (this.workers.length < this.size) {
      const w = new Worker(WORKER_SOURCE, { eval: true });
      w.unref();
      w.on("message", (r: Reply) => {
        const p = this.pending.get(r.id);
        if (!p) return;
        this.pending.delete(r.id);
        if (r.error !== undefined) p.reject(readError(p.label, r.error));
        else p.resolve({ digest: r.digest!, bytes: r.bytes! });
      });
      w.on("error", (error) => this.bury(w, error));
      w.on("exit", (code) => this.bury(w, new Error(`the hashing thread exited (code ${code})`)));
      this.workers.push(w);
      return w;
    }
    return this.workers[this.next++ % this.workers.length]!;
  }
}

const readError = (label: string, why: string, cause?: unknown) =>
  new VerifyReadError(
    `${label}: reading the written bytes back to verify them failed (${why}); run again: the download resumes from what is written`,
    cause === undefined ? undefined : { cause },
  );
