import { setMaxListeners } from "node:events";
import { closeSync, fdatasync, fsync, ftruncateSync, open } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { promisify } from "node:util";
import type { FailedResponse } from "../downloader.ts";
import type { ResolvedFile } from "../types.ts";
import { DownloadModelsError, HubError, IntegrityError } from "../errors.ts";
import { sizeOf } from "../fs-utils.ts";
import { header, isRetryableStatus, retryAfterMs, withoutCredentials } from "../http.ts";
import { redact } from "../redact.ts";
import { digestProblem, hashSpec, Verifier } from "../verify.ts";
import { RangeSet, splitRanges, type Range } from "./ranges.ts";
import { readState, removeState, writeState } from "./state.ts";
import { streamRequest } from "./stream-request.ts";
import { ensureDir } from "./dirs.ts";
import { PositionalWriter } from "./positional-writer.ts";
import type { Transfer } from "./transfer.ts";

const fsyncAsync = promisify(fsync);
const openAsync = promisify(open);
const fdatasyncAsync = promisify(fdatasync);

export interface FetchFileParams {
  file: ResolvedFile;
  /** Where bytes go while unverified (ends in `.incomplete`); `<temp>.json` records what is written. */
  temp: string;
  /** Final name, given only after verification. */
  dest: string;
  transfer: Transfer;
  signal?: AbortSignal;
  /** Bytes moved over the network (negative when discarded). */
  onProgress?: (delta: number) => void;
  /** Bytes taken over from an earlier run's partial file. */
  onResume?: (bytes: number) => void;
  onRetry?: (attempt: number, delayMs: number, reason: string) => void;
  /** Explains a failed answer in the hub's terms. */
  describeError?: (response: FailedResponse) => Error | undefined;
  /** For messages, e.g. `config.json of org/name@main`. */
  label: string;
  /** Polled as bytes arrive: true stops the download (its lock was taken over by another process). */
  isCancelled?: () => boolean;
}

/** A failure worth another try: network errors, stalls, 408/429/5xx, a body cut short. */
class Retryable extends Error {
  constructor(message: string, readonly delayMs?: number, options?: { cause?: unknown }) {
    super(message, options);
  }
}

class Stalled extends Error {}

const identityOf = (f: ResolvedFile) => f.sha256 ?? f.gitSha1 ?? f.etag ?? `size:${f.size}`;

function backoff(attempt: number, baseMs: number): number {
  return Math.round(Math.min(baseMs * 2 ** (attempt - 1), 30_000) * (0.5 + Math.random() * 0.5));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Download one file into `temp`, verify it, then rename it to `dest`.
 *
 * Files from `rangeThreshold` up are cut into `chunkSize` Range requests run in parallel inside the shared
 * connection budget and written in place at their offsets; smaller files are one stream. A server that answers
 * 200 to a Range falls back to one stream. Each request retries on its own (network errors, stalls, 408/429/5xx,
 * with backoff and Retry-After) and continues from its last byte. sha256 / git sha1 is computed while the bytes
 * arrive (a single stream inline, chunked files on a HashPool worker). Written ranges of big files are flushed
 * and recorded every `checkpointMs`, so a killed run resumes from them; a changed remote file (other hash or size) starts over. Bytes that do not verify
 * are discarded and fetched once more, then the file fails with an IntegrityError.
 */
export async function fetchFile(p: FetchFileParams): Promise<void> {
  const o = p.transfer.options;
  const size = p.file.size;
  const identity = identityOf(p.file);
  const ranged = size >= o.rangeThreshold;
  await ensureDir(dirname(p.temp));

  let done = new RangeSet();
  const prior = ranged ? await readState(p.temp) : undefined;
  if (prior && prior.identity === identity && prior.size === size && (await sizeOf(p.temp)) === size) {
    done = new RangeSet(prior.done);
  } else if (ranged) {
    await removeState(p.temp);
  }
  const fd = await openAsync(p.temp, done.total > 0 ? "r+" : "w+");
  if (ranged && done.total === 0) ftruncateSync(fd, size);
  if (done.total > 0) p.onResume?.(done.total);

  // Big files are hashed on a worker thread that reads back what is written (the main thread only parses and
  // writes); a single stream is hashed inline as it arrives.
  const spec = hashSpec(p.file);
  const background = ranged && spec ? p.transfer.hashes.start(fd, spec.algorithm, spec.header) : undefined;
  const verifier = new Verifier(p.file); // one stream: its bytes arrive in order and are hashed as they come
  let advancedTo = 0;
  const onWritten = (start: number, end: number) => {
    done.add(start, end);
    if (background && done.prefixEnd() - advancedTo >= 4 << 20) {
      advancedTo = done.prefixEnd();
      background.advance(advancedTo);
    }
  };
  if (background && done.prefixEnd() > 0) background.advance(done.prefixEnd());
  // Writes go to the thread pool (the other core), within the run's write budget; a range counts as on disk
  // (`done`) only once its write returned.
  const writer = new PositionalWriter(fd, p.transfer.writes, onWritten, p.label);
  // Progress goes out per MiB, not per 64 KiB piece: fewer events, less garbage on the hot path.
  let networkBytes = 0;
  let pending = 0;
  const progress = {
    add(n: number) {
      networkBytes += n;
      pending += n;
      if (pending >= 1 << 20) progress.flush();
    },
    flush() {
      if (pending !== 0) p.onProgress?.(pending);
      pending = 0;
    },
    discard() {
      progress.flush();
      p.onProgress?.(-networkBytes);
      networkBytes = 0;
    },
  };
  let checkpointing: Promise<void> | undefined;
  let recorded = done.total;
  const checkpoint = () => {
    if (!ranged || checkpointing || done.total === recorded) return checkpointing;
    const snapshot = done.ranges;
    const total = done.total;
    checkpointing = fdatasyncAsync(fd)
      .then(() => writeState(p.temp, identity, size, snapshot))
      .then(() => void (recorded = total))
      .catch(() => {}) // a missed checkpoint only costs re-downloading those bytes
      .finally(() => (checkpointing = undefined));
    return checkpointing;
  };
  const timer = setInterval(checkpoint, o.checkpointMs);
  timer.unref();

  try {
    for (let round = 1; ; round++) {
      await downloadGaps();
      let problem: string | undefined;
      if (background) {
        const { digest, bytes } = await background.finish(size);
        problem = digestProblem(p.file, digest, bytes);
      } else if (ranged) {
        problem = digestProblem(p.file, undefined, done.prefixEnd()); // no hash published: the size is the check
      } else {
        problem = verifier.problem();
      }
      if (!problem) break;
      // Without per-chunk digests from the hub a whole-file mismatch cannot be narrowed down: all of it goes.
      progress.discard();
      done = new RangeSet();
      recorded = 0;
      advancedTo = 0;
      verifier.reset();
      background?.reset();
      ftruncateSync(fd, 0);
      if (ranged) ftruncateSync(fd, size);
      await removeState(p.temp);
      if (round >= 2) {
        throw new IntegrityError(
          `${p.label}: the downloaded bytes do not match the hub's listing (${problem}), twice. ` +
            `The file was discarded and nothing was written under its final name; retry later, or report it to the hub if it persists.`,
        );
      }
      p.onRetry?.(round, 0, `downloaded bytes do not verify (${problem}); downloading again`);
    }
    background?.drop();
    await fsyncAsync(fd);
  } catch (error) {
    clearInterval(timer);
    background?.drop();
    await checkpointing;
    if (error instanceof IntegrityError) {
      closeSync(fd);
      await rm(p.temp, { force: true });
      await removeState(p.temp);
    } else {
      await checkpoint(); // keep what is written for the next run
      closeSync(fd);
    }
    throw error;
  }
  clearInterval(timer);
  await checkpointing;
  closeSync(fd);
  await rename(p.temp, p.dest);
  if (ranged) await removeState(p.temp);

  async function downloadGaps(): Promise<void> {
    const queue: Range[] = ranged ? splitRanges(done.gaps(size), o.chunkSize) : done.gaps(size);
    if (queue.length === 0) return;
    const fileAbort = new AbortController();
    setMaxListeners(Infinity, fileAbort.signal); // one listener per request in flight
    const stopAll = () => fileAbort.abort(p.signal?.reason);
    p.signal?.addEventListener("abort", stopAll, { once: true });
    // The first answer says whether Range works and gives the final (CDN) URL; other workers wait for it.
    let rangeSupport: boolean | undefined;
    let finalUrl: string | undefined;
    let finalHeaders: Record<string, string> = {};
    let releaseProbe!: () => void;
    const probed = new Promise<void>((r) => (releaseProbe = r));
    // Bounded in total too: a flaky link may cost every chunk a few retries, not more.
    let failuresLeft = o.attempts * 2 + queue.length * 3;

    const fetchRange = async (start: number, end: number): Promise<void> => {
      let pos = start;
      let stop = end;
      let attempts = 0;
      let refreshes = 0;
      for (;;) {
        const useRange = ranged || pos > 0 || stop < size;
        const viaFinal = finalUrl !== undefined;
        const url = finalUrl ?? p.file.url;
        const headers: Record<string, string> = {
          ...(viaFinal ? finalHeaders : p.file.headers),
          "accept-encoding": "identity",
          ...(useRange ? { range: `bytes=${pos}-${stop - 1}` } : {}),
        };
        const ctl = new AbortController();
        const onFileAbort = () => ctl.abort(fileAbort.signal.reason);
        fileAbort.signal.addEventListener("abort", onFileAbort, { once: true });
        const stall = setTimeout(() => ctl.abort(new Stalled()), o.stallMs);
        const before = pos;
        try {
          const res = await streamRequest(url, {
            headers,
            dispatcher: p.transfer.dispatcher,
            signal: ctl.signal,
            onResponse(r) {
              if (r.status === 206) {
                const range = header(r.headers, "content-range");
                const m = range?.match(/^bytes (\d+)-(\d+)\/(\d+|\*)$/);
                if (m && m[3] !== "*" && Number(m[3]) !== size) {
                  throw new DownloadModelsError(`${p.label}: the remote file is now ${m[3]} bytes, not the listed ${size}; it changed since it was listed. Run again to download the new version.`);
                }
                if (!m || Number(m[1]) !== pos) throw new Retryable(`the server answered a different range (${range ?? "none"}) than bytes=${pos}-`);
                rangeSupport = true;
                if (!viaFinal) {
                  finalUrl = r.url;
                  const sameOrigin = new URL(r.url).origin === new URL(p.file.url).origin;
                  finalHeaders = sameOrigin ? { ...p.file.headers } : withoutCredentials(p.file.headers ?? {});
                }
              } else if (r.status === 200) {
                if (useRange && rangeSupport === true) throw new Retryable("the server ignored a Range request it honoured before");
                if (useRange) {
                  // No Range support: this answer is the whole file, as one stream. Everything else is dropped.
                  rangeSupport = false;
                  queue.length = 0;
                  progress.discard();
                  done = new RangeSet();
                  advancedTo = 0;
                  verifier.reset();
                  background?.reset();
                  pos = 0;
                  stop = size;
                }
              } else throw new Retryable(`unexpected HTTP ${r.status}`);
              releaseProbe();
            },
            onData(buf) {
              if (p.isCancelled?.()) throw new DownloadModelsError(`${p.label}: another process took over this download (its lock was judged stale); run again if it does not finish`);
              if (pos + buf.length > stop) throw new Retryable(`the server sent more bytes than asked for (bytes ${pos + buf.length} > ${stop})`);
              if (!ranged) verifier.update(buf);
              writer.write(buf, pos);
              pos += buf.length;
              progress.add(buf.length);
              stall.refresh();
              return writer.hasRoom();
            },
            onPause: (resume) => writer.whenRoom(resume),
          });
          progress.flush();
          await writer.drained();
          if (res.errorBody !== undefined) {
            const failed: FailedResponse = { status: res.status, headers: res.headers, url: res.url, body: res.errorBody };
            // A signed CDN URL that expired: go back through the hub for a fresh one.
            if (viaFinal && [401, 403, 404, 410].includes(failed.status) && refreshes++ < 3) {
              finalUrl = undefined;
              continue;
            }
            const explained = p.describeError?.(failed);
            const retryable = isRetryableStatus(failed.status) || (explained instanceof HubError && explained.info.retryable === true);
            const message = explained?.message ?? `HTTP ${failed.status} for ${p.label} (GET ${redact(failed.url)})`;
            if (retryable) throw new Retryable(message, retryAfterMs(failed.headers));
            throw explained ?? new HubError(message, { status: failed.status, url: redact(failed.url) });
          }
          if (pos < stop) throw new Retryable(`connection closed after ${pos - start} of ${stop - start} bytes`);
          return;
        } catch (error) {
          progress.flush();
          await writer.drained().catch(() => {});
          if (writer.error) throw writer.error;
          if (fileAbort.signal.aborted) throw fileAbort.signal.reason ?? error;
          const reason =
            ctl.signal.reason instanceof Stalled
              ? new Retryable(`no data for ${Math.round(o.stallMs / 1000)} s (stalled)`)
              : error instanceof Retryable
                ? error
                : error instanceof DownloadModelsError
                  ? undefined
                  : new Retryable(`network error: ${(error as Error)?.message ?? String(error)}`, undefined, { cause: error });
          if (!reason) throw error;
          if (pos > before) attempts = 0; // progress was made: the counter starts over, the file-wide budget does not
          attempts++;
          failuresLeft--;
          if (attempts >= o.attempts || failuresLeft <= 0) {
            const what = reason.message.includes(p.label) ? reason.message : `${p.label}: ${reason.message}`;
            throw new HubError(`${what} (gave up after ${attempts} attempts)`, { retryable: true }, { cause: reason.cause });
          }
          const delay = Math.min(reason.delayMs ?? backoff(attempts, o.baseDelayMs), 60_000);
          p.onRetry?.(attempts, delay, redact(reason.message));
          await sleep(delay, fileAbort.signal);
        } finally {
          clearTimeout(stall);
          fileAbort.signal.removeEventListener("abort", onFileAbort);
          releaseProbeIfFirst(start);
        }
      }
    };

    // Release waiting workers even when the probe failed for good: they then fail or retry on their own.
    const releaseProbeIfFirst = (start: number) => start === queue0 && releaseProbe();
    const queue0 = queue[0]![0];
    const worker = async (index: number) => {
      if (index > 0) await probed;
      while (queue.length > 0 && rangeSupport !== false) {
        const [s, e] = queue.shift()!;
        await p.transfer.connection(() => fetchRange(s, e));
      }
    };
    const workers = ranged ? Math.min(o.connections, queue.length) : 1;
    try {
      // The first worker that fails for good stops the others at once; its error is the one reported.
      let first: unknown;
      const runs = Array.from({ length: workers }, (_, i) =>
        worker(i).catch((error: unknown) => {
          if (first === undefined) {
            first = error;
            fileAbort.abort(error);
          }
        }),
      );
      await Promise.all(runs);
      if (first !== undefined) throw first;
    } finally {
      p.signal?.removeEventListener("abort", stopAll);
    }
  }
}
