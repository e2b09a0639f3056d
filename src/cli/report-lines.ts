import type { DownloadEvent, ModelResult, Summary } from "../download/index.ts";
import { modelLabel } from "../download/index.ts";
import { formatBytes, formatRate, formatSeconds } from "../util/index.ts";
import type { Progress } from "./progress.ts";

/** The text of what reporters print, apart from where and when they print it. */

export interface Line {
  line: string;
  /** For stderr: failures, retries and waits a person must see even with stdout piped. */
  err: boolean;
}

export interface EnvBlock {
  lines: string[];
  vars: Record<string, string>;
}

const waitText = (ms: number) => (ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`);

/** A retry's delay as the retry lines show it. */
export const retryIn = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Sources padded to the longest built-in name, so the id column lines up. */
export function modelLine(r: ModelResult): string {
  const name = `${r.source.padEnd(11)}  ${r.id}@${r.revision}`;
  const commit = r.commit && r.commit !== r.revision ? ` (${r.commit.slice(0, 10)})` : "";
  const size = `${r.files} file${r.files === 1 ? "" : "s"}, ${formatBytes(r.bytes)}`;
  switch (r.status) {
    case "skipped":
      return `  skipped     ${name}${commit}: complete on disk, ${size}`;
    case "relinked":
      return `  relinked    ${name}${commit}: ${size}, every file was already on disk; its links were put back`;
    case "downloaded": {
      if (r.downloadedBytes === 0 && r.sharedFiles && r.sharedFiles + r.reusedFiles >= r.files) {
        return `  completed   ${name}${commit}: ${size}, completed by another process`;
      }
      const reused = r.reusedFiles ? `, ${r.reusedFiles} already on disk` : "";
      return `  downloaded  ${name}${commit}: ${size}${reused}; ${formatBytes(r.downloadedBytes)} in ${formatSeconds(r.seconds)} (${formatRate(r.downloadedBytes, r.seconds)})`;
    }
    case "planned":
      return r.downloadedBytes === 0
        ? `  would link  ${name}${commit}: ${size}, every file already on disk`
        : `  would get   ${name}${commit}: ${size}, ${formatBytes(r.downloadedBytes)} to download`;
    case "failed":
      return `  FAILED      ${name}: ${r.error ?? "unknown error"}`;
    case "interrupted":
      return `  interrupted ${name}${commit}: stopped before it finished; ${formatBytes(r.downloadedBytes)} fetched and kept, the next run resumes it`;
  }
}

/** The lines every mode but JSON prints, `--quiet` too: waits, retries, resumes and models that did not finish. */
export function sharedLine(e: DownloadEvent): Line | undefined {
  switch (e.type) {
    case "model-wait":
      return { line: `  ${e.model.id}@${e.model.revision}: ${e.reason}: retrying in ${waitText(e.delayMs)}, attempt ${e.attempt} of ${e.attempts}`, err: true };
    case "model-prune-wait":
      return { line: `  waiting for ${e.holder} (another process on this volume) to finish pruning ${e.model.id}`, err: false };
    case "file-resume":
      return { line: `  resuming ${e.path} of ${e.model.id}: ${formatBytes(e.bytes)} of ${formatBytes(e.size)} already on disk`, err: false };
    case "file-retry":
      return { line: `  retry ${e.attempt} for ${e.path} of ${e.model.id} in ${retryIn(e.delayMs)}: ${e.reason}`, err: true };
    case "model-error":
    case "model-interrupted":
      return { line: modelLine(e.result), err: true };
    default:
      return undefined;
  }
}

/** Another process holds one of the model's files: said once per model, not per file (it holds them all). */
export const fileWaitLine = (e: Extract<DownloadEvent, { type: "file-wait" }>) =>
  `  waiting for ${e.holder} (another process on this volume) to finish ${e.path} of ${e.model.id} (and the model's other files it holds)`;

/** Off a terminal, every few seconds: where the run is. `cap` is `--max-rate` as given. */
export function progressLine(p: Progress, cap?: string): string {
  const pct = p.percent();
  return `  ... ${formatBytes(p.done)} of ${formatBytes(p.total)}${pct !== undefined ? ` (${pct}%)` : ""}, ${speedText(p, cap)}, ETA ${p.eta()}, ${p.active.size} file(s) in flight`;
}

/** On a terminal, the label of the overall bar. */
export function overallLabel(p: Progress, cap?: string): string {
  return `${formatBytes(p.done)} / ${formatBytes(p.total)} | ${speedText(p, cap)} | ETA ${p.eta()} | ${p.active.size} file(s)`;
}

const speedText = (p: Progress, cap?: string) => `${p.speed()}${cap ? ` (capped at ${cap}/s)` : ""}`;

/** The end of a run: planned models (dry run), the summary line, and the env block when there is one. */
export function summaryLines(summary: Summary, env: EnvBlock): string[] {
  const lines = summary.models.filter((m) => m.status === "planned").map(modelLine);
  const parts = [
    summary.planned ? `${summary.planned} to download` : "",
    `${summary.downloaded} downloaded`,
    summary.relinked ? `${summary.relinked} relinked` : "",
    `${summary.skipped} skipped`,
    `${summary.failed} failed`,
    summary.interrupted ? `${summary.interrupted} interrupted` : "",
  ].filter(Boolean);
  const moved = summary.planned
    ? `${formatBytes(summary.models.reduce((n, m) => n + (m.status === "planned" ? m.downloadedBytes : 0), 0))} would be downloaded (dry run, nothing written)`
    : `${formatBytes(summary.downloadedBytes)} downloaded in ${formatSeconds(summary.seconds)}${summary.downloadedBytes ? ` (${formatRate(summary.downloadedBytes, summary.seconds)})` : ""}`;
  lines.push(`Summary: ${parts.join(", ")}; ${moved}.`);
  if (env.lines.length > 0 && summary.failed < summary.models.length) {
    lines.push("Consumers load these models offline with:", ...env.lines.map((line) => `  ${line}`));
  }
  return lines;
}

/** An event as one JSON line: the model as `source:id@revision`, errors as their (redacted) message. */
export function jsonEvent(e: DownloadEvent): Record<string, unknown> {
  const out: Record<string, unknown> = { ...e, time: new Date().toISOString() };
  if ("model" in e) out.model = modelLabel(e.model);
  if ("error" in e) out.error = e.error.message; // the CLI's output redacts every line
  return out;
}
