import { close, closeSync, fsync, ftruncateSync, open } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { promisify } from "node:util";
import type { FailedResponse, ResolvedFile } from "../types.ts";
import { IntegrityError } from "../errors.ts";
import { sizeOf } from "../util/index.ts";
import { digestProblem, hashSpec } from "./verify.ts";
import { isRanged, RangeSet } from "./ranges.ts";
import { readState, removeCutShortStates, removeState, resumable } from "./state.ts";
import { downloadGaps } from "./download-gaps.ts";
import { FileJob, identityOf, type JobHooks } from "./job.ts";
import type { Engine } from "./engine.ts";

const fsyncAsync = promisify(fsync);
const openAsync = promisify(open);
const closeAsync = promisify(close);

export interface FetchFileParams extends JobHooks {
  file: ResolvedFile;
  /** Where bytes go while unverified (ends in `.incomplete`); `<temp>.json` records what is written. */
  temp: string;
  /** Final name, given only after verification. */
  dest: string;
  transfer: Engine;
  signal: AbortSignal;
  /** Bytes taken over from an earlier run's partial file. */
  onResume?: (bytes: number) => void;
  /** Explains a failed answer in the hub's terms. */
  describeError?: (response: FailedResponse) => Error | undefined;
  /** For messages, e.g. `config.json of org/name@main`. */
  label: string;
  /** Polled as bytes arrive: true stops the download (its lock was taken over by another process). */
  isCancelled?: () => boolean;
}

/** Open the temp file, taking over an earlier run's written ranges when its record matches this remote file. */
async function openJob(p: FetchFileParams): Promise<FileJob> {
  const ranged = isRanged(p.file.size, p.transfer.options);
  let done = new RangeSet();
  if (ranged) await removeCutShortStates(p.temp);
  let flushed: Array<[number, number]> = [];
  const prior = ranged ? await readState(p.temp) : undefined;
  if (prior && prior.identity === identityOf(p.file) && prior.size === p.file.size && (await sizeOf(p.temp)) === p.file.size) {
    done = new RangeSet(resumable(prior));
    flushed = prior.done;
  } else if (ranged) {
    await removeState(p.temp);
  }
  const fd = await openAsync(p.temp, done.total > 0 ? "r+" : "w+");
  if (ranged && done.total === 0) ftruncateSync(fd, p.file.size);
  if (done.total > 0) p.onResume?.(done.total);
  // Big files are hashed on a worker thread that reads back what is written (the main thread only parses and
  // writes); a single stream is hashed inline as it arrives, in order.
  const spec = hashSpec(p.file);
  const background = ranged && spec ? p.transfer.hashes.start({ fd, ...spec, label: p.label }) : undefined;
  return new FileJob({
    file: p.file, temp: p.temp, fd, transfer: p.transfer, label: p.label, hooks: p, prior: done, background, priorFlushed: flushed,
  });
}

/** What is wrong with the bytes on disk, or undefined when they are the listed file. */
async function verifyJob(job: FileJob): Promise<string | undefined> {
  if (job.background) {
    const { digest, bytes } = await job.background.finish(job.size);
    return digestProblem(job.file, digest, bytes);
  }
  if (job.ranged) return digestProblem(job.file, undefined, job.done.prefixEnd()); // no hash published: the size is the check
  return job.verifier.problem();
}

/**
 * Download one file into `temp`, verify it, then rename it to `dest`. Written ranges of big files are recorded every
 * `checkpointMs` (and flushed every few records), so a killed run resumes from them; a changed remote file (other hash or size)
 * starts over. Bytes that do not verify are discarded and fetched once more, then the file fails with an
 * IntegrityError and nothing is left under either name.
 */
export async function fetchFile(p: FetchFileParams): Promise<void> {
  const job = await openJob(p);
  const timer = setInterval(() => job.checkpoint(), p.transfer.options.checkpointMs);
  timer.unref();
  try {
    for (let round = 1; ; round++) {
      await downloadGaps(job, p.signal, { ...(p.isCancelled ? { isCancelled: p.isCancelled } : {}), ...(p.describeError ? { describeError: p.describeError } : {}) });
      // Every write of the file has returned before it is hashed, flushed or closed (a write still in flight after
      // its descriptor is closed could land in whatever file reuses the number).
      await job.writer.drained();
      // A big file is flushed before its rename (its size was set up front, so a power cut could otherwise leave
      // holes under the final name that a size check passes). The flush runs while the hash worker reads the file
      // back: both wait on the disk or the other core, not on each other. It is awaited before anything else touches
      // the descriptor, and its failure counts only for bytes that verified (others are discarded anyway).
      const flushing = job.ranged ? fsyncAsync(job.fd).then(() => undefined, (error: unknown) => ({ error })) : undefined;
      const problem = await verifyJob(job).finally(() => flushing);
      const flush = await flushing;
      if (!problem && flush) throw flush.error;
      if (!problem) break;
      // Without per-chunk digests from the hub a whole-file mismatch cannot be narrowed down: all of it goes.
      job.reset();
      ftruncateSync(job.fd, 0);
      if (job.ranged) ftruncateSync(job.fd, job.size);
      await removeState(p.temp);
      if (round >= 2) {
        throw new IntegrityError(
          `${p.label}: the downloaded bytes do not match the hub's listing (${problem}), twice. ` +
            `The file was discarded and nothing was written under its final name; retry later, or report it to the hub if it persists.`,
        );
      }
      p.onRetry?.(round, 0, `downloaded bytes do not verify (${problem}); downloading again`);
    }
    job.background?.drop();
  } catch (error) {
    clearInterval(timer);
    job.background?.drop();
    await job.settled();
    if (error instanceof IntegrityError) {
      closeSync(job.fd);
      await rm(p.temp, { force: true });
      await removeState(p.temp);
    } else {
      await job.checkpoint(true); // keep what is written for the next run, flushed
      closeSync(job.fd);
      // Nothing a next run could take over (no byte recorded, or a small file, always fetched whole): no leftover.
      // A file whose lock another process took over is that process's to keep.
      if ((!job.ranged || job.done.total === 0) && !p.isCancelled?.()) {
        await rm(p.temp, { force: true });
        await removeState(p.temp);
      }
    }
    throw error;
  }
  clearInterval(timer);
  await job.settled();
  if (job.ranged) {
    closeSync(job.fd);
    await rename(p.temp, p.dest);
    await removeState(p.temp);
    return;
  }
  // A small file is renamed at once and flushed meanwhile: the model's manifest waits for the flush (`durable`), the
  // next file does not. Until then a power cut may leave it short or empty under its final name, which no
  // manifest names yet and a size check rejects.
  try {
    await rename(p.temp, p.dest);
  } catch (error) {
    closeSync(job.fd);
    throw error;
  }
  const flushed = fsyncAsync(job.fd).finally(() => closeAsync(job.fd));
  p.transfer.flushes.set(p.dest, flushed);
  // A flush that succeeded has nothing left to tell `durable`: forgotten at once, so that a model of 300,000 small
  // files does not keep a promise per file until its commit. A failed one stays, for `durable` to report.
  flushed.then(() => p.transfer.flushes.get(p.dest) === flushed && p.transfer.flushes.delete(p.dest), () => {});
}
