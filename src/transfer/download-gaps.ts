import { setMaxListeners } from "node:events";
import { sleep } from "../net/index.ts";
import { splitRanges, type Range } from "./ranges.ts";
import { fetchRange, newSpan, type GapRound, type Span } from "./fetch-range.ts";
import type { FileJob } from "./job.ts";

/** A file starts on this many connections and doubles while each doubling still pays (see `scale`). */
const FIRST_CONNECTIONS = 8;
/** How often a file's throughput is sampled to decide whether more connections pay. */
const SAMPLE_MS = 250;
/** Below this, a remainder is not worth a new request. */
const MIN_STEAL = 1 << 20;
/**
 * Only a span that has run this long, would need this much longer at its own rate, and is this many times slower
 * than the best connection is cut: what its socket already holds past the cut is fetched twice, so a merely busy
 * machine must not trigger it.
 */
const JUDGE_AFTER_MS = 1000;
const STEAL_AFTER_S = 2;
const SLOWER_BY = 3;
/** An idle connection looks again this often while slow spans may still become worth taking over. */
const IDLE_POLL_MS = 150;

const rateOf = (s: Span, now: number) => s.bytes / Math.max(1e-3, (now - s.since) / 1000);

/**
 * Take over the slow end of a span in flight: the one that would finish last at its own rate, if it is much slower
 * than the best connection, cut where it and a fresh connection (at the best rate seen) would finish together.
 * Undefined when no span is worth it.
 */
export function steal(round: Pick<GapRound, "active" | "bestRate">, now = performance.now()): Range | undefined {
  let fresh = round.bestRate;
  for (const s of round.active) fresh = Math.max(fresh, rateOf(s, now));
  let victim: Span | undefined;
  let victimEta = STEAL_AFTER_S;
  let victimRate = 0;
  for (const s of round.active) {
    const left = s.stop - s.pos;
    if (left < 2 * MIN_STEAL || now - s.since < JUDGE_AFTER_MS) continue; // too little left, or too new to judge
    const rate = rateOf(s, now);
    const eta = rate > 0 ? left / rate : Infinity;
    if (eta > victimEta && rate * SLOWER_BY <= fresh) [victim, victimEta, victimRate] = [s, eta, rate];
  }
  if (!victim) return undefined;
  const left = victim.stop - victim.pos;
  const keep = fresh > 0 ? Math.floor((left * victimRate) / (victimRate + fresh)) : 0;
  // Leave the victim what its socket may already hold, and cut at a 64 KiB boundary.
  const cut = Math.ceil((victim.pos + Math.max(keep, 256 * 1024)) / 65536) * 65536;
  if (victim.stop - cut < MIN_STEAL) return undefined;
  const taken: Range = [cut, victim.stop];
  victim.stop = cut;
  return taken;
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
  const queue: Range[] = job.ranged ? splitRanges(gaps, o.chunkSize) : gaps;
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
    active: new Set(), received: 0, bestRate: 0, ...extra,
  };
  const worker = async (index: number) => {
    if (index > 0) await probed;
    while (round.rangeSupport !== false && !abort.signal.aborted) {
      const next = queue.shift() ?? (job.ranged && round.rangeSupport ? steal(round) : undefined);
      if (next) {
        await job.transfer.connection(() => fetchRange(round, newSpan(next)));
        continue;
      }
      if (!job.ranged || round.active.size === 0) break;
      await sleep(IDLE_POLL_MS, abort.signal).catch(() => {});
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
    for (let seen = 0; seen < running.length; seen = running.length) await Promise.all(running);
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
