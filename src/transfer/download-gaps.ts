import { setMaxListeners } from "node:events";
import { splitRanges, type Range } from "./ranges.ts";
import { fetchRange, type GapRound } from "./fetch-range.ts";
import { newSpan, steal } from "./span.ts";
import type { FileJob } from "./job.ts";
import { allOfGrowing } from "../util/index.ts";

/** A file starts on this many connections and doubles while each doubling still pays (see `scale`). */
const FIRST_CONNECTIONS = 16;
/** How often a file's throughput is sampled to decide whether more connections pay. */
const SAMPLE_MS = 250;

const MIN_CHUNK = 2 << 20;
const MAX_CHUNK = 8 << 20;
/**
 * About two chunks per connection, in whole MiB between 2 and 8: with one chunk each, every slow connection holds a
 * big piece that must be taken over at the tail; with two or more, the fast connections simply fetch more of them.
 * Not smaller: a chunk is only cut while 2 MiB of it are left (what a cut socket holds is fetched twice), and 8 MiB
 * keeps the request count of a multi-GiB file low.
 */
export function chunkFor(size: number, connections: number): number {
  const each = Math.floor(size / (Math.max(1, connections) * 2) / (1 << 20)) * (1 << 20);
  return Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, each));
}

/**
 * Fetch every byte range of the file not yet on disk: one stream for a small file; for a big one, chunks pulled
 * from a queue by workers inside the run's connection budget. The number of workers starts small and doubles while
 * the file's throughput grows with it (a per-connection cap), not when it does not (CPU- or link-bound). At the
 * tail, idle workers take over the slow remainder of chunks still in flight. The first worker that fails for good
 * stops the others at once; its error is the one reported.
 */
export async function downloadGaps(job: FileJob, signal: AbortSignal, extra: Pick<GapRound, "isCancelled" | "describeError">): Promise<void> {
  const o = job.transfer.options;
  const gaps = job.done.gaps(job.size);
  const queue: Range[] = job.ranged ? splitRanges(gaps, o.chunkSize ?? chunkFor(job.size, o.connections)) : gaps;
  if (queue.length === 0) return;
  const abort = new AbortController();
  setMaxListeners(Infinity, abort.signal); // one listener per request in flight
  const stopAll = () => abort.abort(signal.reason);
  if (signal.aborted) stopAll();
  signal.addEventListener("abort", stopAll, { once: true });
  let releaseProbe!: () => void;
  const probed = new Promise<void>((r) => (releaseProbe = r));
  const round: GapRound = {
    job, queue, abort, probed, releaseProbe, failuresLeft: o.attempts * 2 + queue.length * 3, queue0: queue[0]![0],
    // A single stream may be asked again twice: a server without Range support starts it over each time.
    active: new Set(), retiresLeft: job.ranged ? 2 * o.connections : 2, received: 0, bestRate: 0, ...extra,
  };
  // Idle workers sleep until the next poll or until a request ends, whichever comes first: when the last span is
  // written they leave at once (the file's hash and rename wait for them), and a remainder a retired connection put
  // back in the queue is taken up at once.
  const idle = new Set<() => void>();
  let taken = 0;
  const wakeIdle = () => {
    for (const wake of [...idle]) wake();
  };
  const worker = async (index: number) => {
    if (index > 0) await probed;
    while (round.rangeSupport !== false && !abort.signal.aborted) {
      // While the write budget is full the disk sets the pace: another request would only wait on it too.
      const next = queue.shift() ?? (job.ranged && round.rangeSupport && job.writer.hasRoom() ? steal(round) : undefined);
      if (next) {
        // Taken but not yet active (waiting for a connection): still work in progress, so idle workers stay.
        taken++;
        let started = false;
        try {
          await job.transfer.connection(() => {
            started = true;
            taken--;
            return fetchRange(round, newSpan(next));
          });
        } finally {
          if (!started) taken--;
          wakeIdle();
        }
        continue;
      }
      if (!job.ranged || (round.active.size === 0 && taken === 0)) break;
      await idleFor(o.idlePollMs, idle, abort.signal);
    }
    abort.signal.throwIfAborted();
  };
  let first: unknown;
  const running: Array<Promise<void>> = [];
  const spawn = (count: number) => {
    while (running.length < count) {
      running.push(
        worker(running.length).catch((error: unknown) => {
          round.releaseProbe(); // a probe that failed before its first answer must not leave the others waiting
          if (first === undefined) {
            first = error;
            abort.abort(error);
          }
        }),
      );
    }
  };
  const most = job.ranged ? Math.min(o.connections, queue.length) : 1;
  spawn(Math.min(most, FIRST_CONNECTIONS));
  const scaler = running.length < most ? scale(round, most, spawn) : undefined;
  try {
    // The scaler adds workers while the first ones run: the file is done only when every one of them is, or the
    // hash would read (and the rename would publish) ranges a late worker is still writing.
    await allOfGrowing(running);
    if (first !== undefined) throw first;
  } finally {
    if (scaler) clearInterval(scaler);
    signal.removeEventListener("abort", stopAll);
  }
}

/**
 * Double the file's workers while the last doubling raised its throughput by a quarter or more: connections that
 * each get a capped share add up, connections that share one bottleneck do not.
 */
function scale(round: GapRound, most: number, spawn: (count: number) => void): NodeJS.Timeout {
  let level = Math.min(most, FIRST_CONNECTIONS);
  let last = { at: performance.now(), received: 0 };
  let levelRate = 0;
  let samples = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    const rate = ((round.received - last.received) * 1000) / (now - last.at);
    last = { at: now, received: round.received };
    if (round.rangeSupport === undefined || round.queue.length === 0) return;
    samples++;
    if (samples === 1) return; // the first sample includes connection set-up
    if (levelRate === 0 || rate >= levelRate * 1.25) {
      levelRate = rate;
      level = Math.min(most, level * 2);
      samples = 0;
      spawn(level);
      if (level >= most) clearInterval(timer);
    }
  }, SAMPLE_MS);
  timer.unref();
  return timer;
}

/** Wait `ms`, or less: until a `wake` in `idle` is called or the signal aborts. */
function idleFor(ms: number, idle: Set<() => void>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      idle.delete(wake);
      signal.removeEventListener("abort", wake);
      resolve();
    };
    const timer = setTimeout(wake, ms);
    idle.add(wake);
    signal.addEventListener("abort", wake, { once: true });
  });
}
