import type { Range } from "./ranges.ts";

/**
 * One range in flight. `stop` may move down while it runs: an idle connection took over the rest (work stealing),
 * or the span's own connection was retired as slow and its rest went back to the queue. `pos` is the next byte this
 * request will write; `bytes`, `since` and `lastAt` measure its current attempt's rate from the bytes the connection
 * delivered, not from when its writes returned.
 */
export interface Span {
  readonly start: number;
  pos: number;
  stop: number;
  bytes: number;
  since: number;
  /** When the last byte arrived. */
  lastAt: number;
  /** When the current attempt's first byte arrived (undefined before it). */
  firstAt?: number;
  /** Since when the span has been judged a slow edge without a break (undefined when it is not). */
  slowSince?: number;
}

/** What judging a span needs to know of the spans beside it. */
export interface Field {
  /** Ranges being fetched now. */
  active: Set<Span>;
  /** The fastest rate (bytes/s) a finished span of this file reached: what a fresh connection may expect. */
  bestRate: number;
  /**
   * The shortest wait for a first byte seen (ms): about one round trip to the server. The shortest, not each
   * request's own: a busy server answers some requests late, but the network is no longer than its fastest answer.
   */
  roundTripMs?: number;
  /** When the run's write budget last ran out (performance.now()), if it did. */
  writesFullAt?: number;
}

export const newSpan = ([start, stop]: Range): Span => {
  const now = performance.now();
  return { start, pos: start, stop, bytes: 0, since: now, lastAt: now };
};

/**
 * Bytes per second the span's connection delivered so far. Wall time: a pause for a full write budget holds every
 * stream of the run alike, so it makes connections look alike, never one of them slow.
 */
const spanRate = (s: Span, now: number) => s.bytes / Math.max(1e-3, (now - s.since) / 1000);

/** Below this, a remainder is not worth a new request (a span is cut only with twice this left). */
const MIN_STEAL = 1 << 20;
/**
 * Only a span that has run this long, would need this much longer at its own rate, and is this many times slower
 * than the best connection is cut: what its socket already holds past the cut is fetched twice, so a merely busy
 * machine must not trigger it.
 */
const JUDGE_AFTER_MS = 1000;
const STEAL_AFTER_S = 2;
/** A request that has not delivered this much is not judged at all: a late first byte is the stall watchdog's business. */
const JUDGE_FROM_BYTES = 128 << 10;
const SLOWER_BY = 3;

/**
 * A connection is judged a slow edge sooner: closing it loses only what its socket holds, while every second on it
 * is a second at a fraction of the fast edges' rate (most of a CDN's connections may land on slow ones). Not before
 * ten round trips (the shortest wait for a first byte) of data, though: a new connection is still in TCP's slow
 * start until then, and must not be judged against warm ones.
 */
const EDGE_AFTER_MS = 150;
const EDGE_AFTER_ROUND_TRIPS = 10;
const EDGE_FROM_BYTES = 64 << 10;
/**
 * An edge is closed when it is this many times slower than the best connection, and has stayed so for this long: a
 * starved event loop reads sockets unevenly for a moment, and what a closed socket holds is fetched again.
 */
const EDGE_SLOWER_BY = 4;
const EDGE_STAYS_MS = 100;
/**
 * No connection is judged an edge until the write budget has had room for this long: while it runs out, streams
 * pause and resume in turn, and which ones the event loop reads first sets their rates (measured on a 2 GiB file at
 * 50 MB/s per connection: the median connection at 1.5 MB/s, the fastest at 12-20, on a hub that was not uneven).
 */
const EDGE_FREE_WRITES_MS = 100;

interface Window {
  afterMs: number;
  fromBytes: number;
}
const TAIL: Window = { afterMs: JUDGE_AFTER_MS, fromBytes: JUDGE_FROM_BYTES };
const EDGE: Window = { afterMs: EDGE_AFTER_MS, fromBytes: EDGE_FROM_BYTES };

/** Long enough under way, with enough delivered, to be judged by its rate. */
const judgeable = (s: Span, now: number, w: Window) => now - s.since >= w.afterMs && s.bytes >= w.fromBytes;

/** The span's rate when it has run long enough to tell (what other files' connections are judged against). */
export const shownRate = (s: Span, now: number): number | undefined => (judgeable(s, now, EDGE) ? spanRate(s, now) : undefined);

/** The rate a fresh connection may expect: the best finished span's, or the best span running long enough to judge. */
function fastestRate(field: Field, now: number, w: Window = TAIL): number {
  let fresh = field.bestRate;
  for (const s of field.active) if (judgeable(s, now, w)) fresh = Math.max(fresh, spanRate(s, now));
  return fresh;
}

/**
 * Take over the slow end of a span in flight: the one that would finish last at its own rate, if it is much slower
 * than the best connection, cut where it and a fresh connection (at the best rate seen) would finish together.
 * Undefined when no span is worth it.
 */
export function steal(field: Field, now = performance.now()): Range | undefined {
  const fresh = fastestRate(field, now);
  let victim: Span | undefined;
  let victimEta = STEAL_AFTER_S;
  let victimRate = 0;
  for (const s of field.active) {
    const left = s.stop - s.pos;
    // too little left, or too new to judge
    if (left < 2 * MIN_STEAL || !judgeable(s, now, TAIL)) continue;
    const rate = spanRate(s, now);
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
 * Whether the span's connection is one of a CDN's slow edges and should be closed: it has run long enough to judge,
 * is many times slower than the best connection of the file, and has enough left that a new connection (which the
 * CDN may route to a fast edge) pays for its set-up. Closing it and asking again is how a download gets off the
 * slow edges that most connections land on, instead of only spreading the slow ones' tails at the end.
 */
export function isSlowEdge(field: Field, span: Span, now: number): boolean {
  // Rates paced by our own writes say nothing of the edge: no verdict either way until the writes run free again.
  if (field.writesFullAt !== undefined && now - field.writesFullAt < EDGE_FREE_WRITES_MS) return false;
  const slow =
    span.stop - span.pos >= MIN_STEAL &&
    judgeable(span, now, EDGE) &&
    span.firstAt !== undefined &&
    now - span.firstAt >= EDGE_AFTER_ROUND_TRIPS * (field.roundTripMs ?? 0) &&
    spanRate(span, now) * EDGE_SLOWER_BY <= fastestRate(field, now, EDGE);
  if (!slow) {
    span.slowSince = undefined;
    return false;
  }
  span.slowSince ??= now;
  return now - span.slowSince >= EDGE_STAYS_MS;
}
