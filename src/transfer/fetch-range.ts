import type { FailedResponse } from "../types.ts";
import { DownloadGaveUpError, DownloadModelsError, HubError, LeaseLostError, OverlongResponseError, RemoteFileChangedError } from "../errors.ts";
import { header, isRetryableStatus, retryAfterMs, withoutCredentials } from "../net/index.ts";
import { redactUrl } from "../util/index.ts";
import { backoffDelay, sleep } from "../net/index.ts";
import type { Range } from "./ranges.ts";
import { streamRequest, type StreamResponse } from "./stream-request.ts";
import type { FileJob } from "./job.ts";
import { isSlowEdge, shownRate, type Span } from "./span.ts";

/** A failure worth another try: network errors, stalls, 408/429/5xx, a body cut short. */
export class Retryable extends Error {
  constructor(message: string, readonly delayMs?: number, options?: { cause?: unknown }) {
    super(message, options);
  }
}


class Stalled extends Error {}

/** The stream reached the end of its span after an idle connection took the rest over: done, not failed. */
class SpanDone extends Error {}

/** A single stream found on a slow edge: asked again at once from its next byte, on a new connection. */
class SlowEdge extends Error {}

/** How often a span checks whether its connection is a slow edge. */
const JUDGE_EVERY_MS = 100;

/** A Retry-After longer than this is not slept through silently by one chunk. */
const MAX_RETRY_DELAY_MS = 60_000;

/** What the requests of one pass over a file's gaps share. */
export interface GapRound {
  job: FileJob;
  queue: Range[];
  /** Stops every request of this pass: the run's signal, or the first chunk that failed for good. */
  abort: AbortController;
  /** Learnt from the first answer: does Range work, and the final (CDN) URL with the headers it may get. */
  rangeSupport?: boolean;
  cdn?: { url: string; headers: Record<string, string> };
  /** Other workers wait for the first answer. */
  probed: Promise<void>;
  releaseProbe: () => void;
  /** Start of the first chunk: its answer is the probe. */
  queue0: number;
  /** Bounded in total too: a flaky link may cost every chunk a few retries, not more. */
  failuresLeft: number;
  /** Ranges being fetched now: where an idle connection looks for a slow remainder to take over. */
  active: Set<Span>;
  /** How many more connections this round may close as slow edges (bounded: a new connection costs a set-up). */
  retiresLeft: number;
  /** The shortest wait for a first byte this round saw (ms): about one round trip (see `Field`). */
  roundTripMs?: number;
  /** Bytes received by this round, for sizing its connection count. */
  received: number;
  /** The fastest rate (bytes/s) a finished span of this round reached: what a fresh connection may expect. */
  bestRate: number;
  /** Polled as bytes arrive: true stops the download (its lock was taken over by another process). */
  isCancelled?: () => boolean;
  describeError?: (response: FailedResponse) => Error | undefined;
}

/** Parse a 206 answer: refuse a changed remote file or a range other than asked; learn the CDN URL. */
function acceptPartial(round: GapRound, r: StreamResponse, pos: number, viaCdn: boolean): void {
  const { job } = round;
  const range = header(r.headers, "content-range");
  const m = range?.match(/^bytes (\d+)-(\d+)\/(\d+|\*)$/);
  if (m && m[3] !== "*" && Number(m[3]) !== job.size) {
    throw new RemoteFileChangedError(`${job.label}: the remote file is now ${m[3]} bytes, not the listed ${job.size}; it changed since it was listed. Run again to download the new version.`);
  }
  if (!m || Number(m[1]) !== pos) throw new Retryable(`the server answered a different range (${range ?? "none"}) than bytes=${pos}-`);
  round.rangeSupport = true;
  if (!viaCdn) {
    const sameOrigin = new URL(r.url).origin === new URL(job.file.url).origin;
    round.cdn = { url: r.url, headers: sameOrigin ? { ...job.file.headers } : withoutCredentials(job.file.headers ?? {}) };
  }
}

/** Why an attempt failed, as a Retryable, or undefined when the error must end the file at once. */
function retryReason(error: unknown, stalled: boolean, stallMs: number): Retryable | undefined {
  if (stalled) return new Retryable(`no data for ${Math.round(stallMs / 1000)} s (stalled)`);
  if (error instanceof Retryable) return error;
  if (error instanceof DownloadModelsError) return undefined;
  return new Retryable(`network error: ${(error as Error)?.message ?? String(error)}`, undefined, { cause: error });
}

/**
 * Fetch the span's bytes and write them in place. Each request retries on its own (network errors, stalls,
 * 408/429/5xx, with backoff and Retry-After) and continues from its last byte. The round's signal is checked before
 * every attempt: a listener added to an already aborted signal never fires.
 */
export async function fetchRange(round: GapRound, span: Span): Promise<void> {
  const { job } = round;
  const o = job.transfer.options;
  const rate = job.transfer.rate;
  let attempts = 0;
  let refreshes = 0;
  round.active.add(span);
  try {
    for (;;) {
      round.abort.signal.throwIfAborted();
      const useRange = job.ranged || span.pos > 0 || span.stop < job.size;
      const viaCdn = round.cdn !== undefined;
      const url = round.cdn?.url ?? job.file.url;
      const asked = span.stop;
      const headers: Record<string, string> = {
        ...(round.cdn ? round.cdn.headers : job.file.headers),
        "accept-encoding": "identity",
        ...(useRange ? { range: `bytes=${span.pos}-${asked - 1}` } : {}),
      };
      const ctl = new AbortController();
      const onRoundAbort = () => ctl.abort(round.abort.signal.reason);
      round.abort.signal.addEventListener("abort", onRoundAbort, { once: true });
      const stall = setTimeout(() => ctl.abort(new Stalled()), o.stallMs);
      const before = span.pos;
      span.bytes = 0;
      span.since = span.lastAt = performance.now();
      span.firstAt = span.slowSince = undefined;
      let gather = job.writer.stream(span.pos);
      let nextJudge = span.since;
      try {
        const res = await streamRequest(url, {
          headers,
          dispatcher: job.transfer.dispatcher,
          signal: ctl.signal,
          onResponse(r) {
            if (r.status === 206) acceptPartial(round, r, span.pos, viaCdn);
            else if (r.status === 200) {
              if (useRange && round.rangeSupport === true) throw new Retryable("the server ignored a Range request it honoured before");
              if (useRange) {
                // No Range support: this answer is the whole file, as one stream. Everything else is dropped.
                round.rangeSupport = false;
                round.queue.length = 0;
                job.reset();
                span.pos = 0;
                span.stop = job.size;
                gather.done();
                gather = job.writer.stream(0);
              }
            } else throw new Retryable(`unexpected HTTP ${r.status}`);
            round.releaseProbe();
          },
          onData(buf) {
            if (round.isCancelled?.()) throw new LeaseLostError(`${job.label}: another process took over this download (its lock was judged stale); run again if it does not finish`);
            const limit = round.rangeSupport === false ? job.size : asked;
            // A server that sends more than asked for will do it again: no retry heals that.
            if (span.pos + buf.length > limit) {
              throw new OverlongResponseError(`${job.label}: the server sent more bytes than asked for (bytes ${span.pos + buf.length} > ${limit}); the file was not written`);
            }
            // The rest of the span may have been handed to another connection meanwhile: keep only what is ours.
            const piece = span.pos + buf.length > span.stop ? buf.subarray(0, span.stop - span.pos) : buf;
            if (!job.ranged) job.verifier.update(piece);
            gather.push(piece);
            span.pos += piece.length;
            span.bytes += piece.length;
            span.lastAt = performance.now();
            if (span.firstAt === undefined) {
              span.firstAt = span.lastAt;
              round.roundTripMs = Math.min(round.roundTripMs ?? Infinity, span.firstAt - span.since);
            }
            round.received += piece.length;
            job.addProgress(piece.length);
            stall.refresh();
            if (span.lastAt >= nextJudge) {
              nextJudge = span.lastAt + JUDGE_EVERY_MS;
              const pace = job.transfer.pace;
              pace.bestRate = Math.max(pace.bestRate, shownRate(span, span.lastAt) ?? 0);
              const field = { active: round.active, bestRate: Math.max(round.bestRate, pace.bestRate), roundTripMs: round.roundTripMs, writesFullAt: job.transfer.writes.fullAt };
              // On a slow edge: the rest goes to a new connection, and throwing below closes this one (a request
              // aborted mid-body takes its socket with it). A chunk's rest goes back to the head of the queue; a
              // single stream asks again from its next byte (a Range request, so the inline hash goes on in order).
              if (round.retiresLeft > 0 && round.rangeSupport !== false && isSlowEdge(field, span, span.lastAt)) {
                round.retiresLeft--;
                if (!job.ranged) throw new SlowEdge();
                round.queue.unshift([span.pos, span.stop]);
                span.stop = span.pos;
              }
            }
            if (span.pos >= span.stop && span.stop < limit) throw new SpanDone();
            const more = rate ? rate.take(buf.length) && job.writer.hasRoom() : job.writer.hasRoom();
            // A paused stream writes what it gathered: held bytes count against the budget it waits on.
            if (!more) gather.flush();
            return more;
          },
          onPause: (resume) => job.writer.whenRoom(rate ? () => rate.whenAllowed(resume) : resume),
        });
        gather.done();
        job.flushProgress();
        await gather.drained();
        if (res.errorBody !== undefined) {
          const failed: FailedResponse = { status: res.status, headers: res.headers, url: res.url, body: res.errorBody };
          // A signed CDN URL that expired: go back through the hub for a fresh one.
          if (viaCdn && [401, 403, 404, 410].includes(failed.status) && refreshes++ < 3) {
            round.cdn = undefined;
            continue;
          }
          const explained = round.describeError?.(failed);
          const retryable = isRetryableStatus(failed.status) || (explained instanceof HubError && explained.info.retryable === true);
          const message = explained?.message ?? `HTTP ${failed.status} for ${job.label} (GET ${redactUrl(failed.url)})`;
          if (retryable) throw new Retryable(message, retryAfterMs(failed.headers));
          throw explained ?? new HubError(message, { status: failed.status, url: redactUrl(failed.url) });
        }
        if (span.pos < span.stop) throw new Retryable(`connection closed after ${span.pos - span.start} of ${span.stop - span.start} bytes`);
        noteRate(round, span);
        return;
      } catch (error) {
        gather.done();
        job.flushProgress();
        await gather.drained().catch(() => {});
        if (job.writer.error) throw job.writer.error;
        if (error instanceof SpanDone || (span.pos >= span.stop && !round.abort.signal.aborted)) return noteRate(round, span);
        if (round.abort.signal.aborted) throw round.abort.signal.reason ?? error;
        if (error instanceof SlowEdge) continue;
        const reason = retryReason(error, ctl.signal.reason instanceof Stalled, o.stallMs);
        if (!reason) throw error;
        if (span.pos > before) attempts = 0; // progress was made: the counter starts over, the file-wide budget does not
        attempts++;
        round.failuresLeft--;
        if (attempts >= o.attempts || round.failuresLeft <= 0) {
          const what = reason.message.includes(job.label) ? reason.message : `${job.label}: ${reason.message}`;
          throw new DownloadGaveUpError(`${what} (gave up after ${attempts} attempts)`, job.label, redactUrl(url), attempts, { cause: reason.cause });
        }
        const delay = Math.min(reason.delayMs ?? backoffDelay(attempts, { baseMs: o.baseDelayMs, capMs: 30_000 }), MAX_RETRY_DELAY_MS);
        job.hooks.onRetry?.(attempts, delay, redactUrl(reason.message));
        await sleep(delay, round.abort.signal);
      } finally {
        clearTimeout(stall);
        round.abort.signal.removeEventListener("abort", onRoundAbort);
        if (span.start === round.queue0) round.releaseProbe(); // waiting workers go on even when the probe failed for good
      }
    }
  } finally {
    round.active.delete(span);
  }
}

/** The rate the span's connection reached, up to its last byte (not counting the wait for its writes). */
function noteRate(round: GapRound, span: Span): void {
  const seconds = (span.lastAt - span.since) / 1000;
  if (span.bytes < 1 << 20 || seconds <= 0) return;
  round.bestRate = Math.max(round.bestRate, span.bytes / seconds);
  round.job.transfer.pace.bestRate = Math.max(round.job.transfer.pace.bestRate, round.bestRate);
}
