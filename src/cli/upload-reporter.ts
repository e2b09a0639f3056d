import type { S3Event } from "../remote/index.ts";
import { formatBytes } from "../util/index.ts";
import type { Mode, Output } from "./output.ts";
import { every, Progress } from "./progress.ts";
import { retryIn, type Line } from "./report-lines.ts";

export interface UploadReporterOptions {
  /** How often the human progress line is printed. @default 5000 */
  progressEveryMs?: number;
  /** A line per object sent. */
  verbose?: boolean;
  /** The record uploads are folded into (one of its own by default). */
  progress?: Progress;
}

export interface UploadReporter {
  onEvent(e: S3Event): void;
  readonly progress: Progress;
}

/**
 * Renders upload events as the download reporters do downloads, over the same progress record: `human` a line per
 * model and target, a progress line every few seconds and, with --verbose, a line per object; `quiet` retries and
 * failures only; `json` one JSON line per event (progress at most once a second per object). Give it the download
 * reporter's `output` so that its lines go above the bars on a terminal.
 */
export function createUploadReporter(io: Output, mode: Mode, opts: UploadReporterOptions = {}): UploadReporter {
  const progress = opts.progress ?? new Progress();
  const show = mode === "json" ? jsonUploads(io) : mode === "quiet" ? quietUploads(io) : humanUploads(io, progress, opts);
  return {
    progress,
    onEvent(e) {
      progress.upload(e);
      show(e);
    },
  };
}

/** What every mode but JSON says: retries and a listing that broke. */
function sharedUploadLine(e: S3Event): Line | undefined {
  if (e.type === "upload-retry") return { line: `  retry ${e.attempt} for ${e.key} on ${e.target} in ${retryIn(e.delayMs)}: ${e.reason}`, err: true };
  if (e.type === "listing-fallback") return { line: `  listing ${e.prefix} on ${e.target} broke (${e.reason}); listing it folder by folder instead`, err: true };
  return undefined;
}

function quietUploads(io: Output): (e: S3Event) => void {
  return (e) => {
    const shown = sharedUploadLine(e);
    if (shown) (shown.err ? io.err : io.out)(shown.line);
  };
}

function humanUploads(io: Output, progress: Progress, opts: UploadReporterOptions): (e: S3Event) => void {
  const due = every(opts.progressEveryMs ?? 5000);
  const line = (e: S3Event): string | undefined => {
    switch (e.type) {
      case "upload-progress":
        return due() ? `  ... ${formatBytes(progress.done)} uploaded, ${progress.speed()}` : undefined;
      case "upload-start":
        return e.resumedBytes > 0 ? `  resuming ${e.key} on ${e.target}: ${formatBytes(e.resumedBytes)} of ${formatBytes(e.size)} already there` : undefined;
      case "upload-done":
        return opts.verbose ? `  uploaded ${e.key} to ${e.target} (${formatBytes(e.size)}${e.etagCheck === "unverified" ? ", ETag not checkable" : ""})` : undefined;
      case "model-skip":
        return `  on volume   ${e.model} → ${e.target}: complete, nothing sent`;
      case "model-uploaded":
        return `  uploaded    ${e.model} → ${e.target}: ${e.uploaded} object${e.uploaded === 1 ? "" : "s"} sent, ${e.present} already there, ${formatBytes(e.bytesSent)}`;
      default:
        return undefined;
    }
  };
  return (e) => {
    const shown = sharedUploadLine(e) ?? { line: line(e), err: false };
    if (shown.line !== undefined) (shown.err ? io.err : io.out)(shown.line);
  };
}

function jsonUploads(io: Output): (e: S3Event) => void {
  const shownAt = new Map<string, number>();
  const json = (e: S3Event) => io.out(JSON.stringify({ ...e, time: new Date().toISOString() }));
  return (e) => {
    if (e.type !== "upload-progress") return json(e);
    const id = `${e.target}|${e.key}`;
    if (Date.now() - (shownAt.get(id) ?? 0) >= 1000) {
      shownAt.set(id, Date.now());
      json(e);
    }
  };
}
