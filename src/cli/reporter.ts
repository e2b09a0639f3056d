import type { DownloadEvent, ModelResult } from "../events.ts";
import type { Summary } from "../run-download.ts";
import { redact } from "../redact.ts";
import { formatBytes, formatRate, formatSeconds } from "./format.ts";

export interface Output {
  out: (line: string) => void;
  err: (line: string) => void;
  /** stderr is a terminal: progress is drawn as a bar, not logged. */
  isTTY: boolean;
}

export type Mode = "human" | "quiet" | "json";

interface Bar {
  start(total: number, value: number, payload?: object): void;
  setTotal(total: number): void;
  update(value: number, payload?: object): void;
  stop(): void;
}

function modelLine(r: ModelResult): string {
  const name = `${r.source}  ${r.id}@${r.revision}`;
  const commit = r.commit && r.commit !== r.revision ? ` (${r.commit.slice(0, 10)})` : "";
  const size = `${r.files} file${r.files === 1 ? "" : "s"}, ${formatBytes(r.bytes)}`;
  switch (r.status) {
    case "skipped":
      return `  skipped     ${name}${commit}: complete on disk, ${size}`;
    case "downloaded": {
      const reused = r.reusedFiles ? `, ${r.reusedFiles} already on disk` : "";
      return `  downloaded  ${name}${commit}: ${size}${reused}; ${formatBytes(r.downloadedBytes)} in ${formatSeconds(r.seconds)} (${formatRate(r.downloadedBytes, r.seconds)})`;
    }
    case "planned":
      return r.downloadedBytes === 0
        ? `  would link  ${name}${commit}: ${size}, every file already on disk`
        : `  would get   ${name}${commit}: ${size}, ${formatBytes(r.downloadedBytes)} to download`;
    case "failed":
      return `  FAILED      ${name}: ${r.error ?? "unknown error"}`;
  }
}

/**
 * Renders core events for people: one line per model, a byte progress bar on a terminal, a progress line every
 * few seconds otherwise (docker build logs, nohup). `quiet` prints failures and the summary only; `json` nothing.
 */
export function createReporter(io: Output, mode: Mode, opts: { progressEveryMs?: number } = {}) {
  let total = 0;
  let done = 0;
  let bar: Bar | undefined;
  let barLib: Promise<unknown> | undefined;
  let lastLog = Date.now();
  const started = Date.now();
  const active = new Set<string>();
  const every = opts.progressEveryMs ?? 5000;
  const showProgress = mode === "human";

  const print = (line: string, toErr = false) => {
    const text = redact(line);
    if (bar) bar.stop();
    (toErr ? io.err : io.out)(text);
    if (bar) bar.start(total, done);
  };

  const ensureBar = () => {
    if (!showProgress || !io.isTTY || bar || barLib) return;
    barLib = import("cli-progress").then((mod) => {
      const { SingleBar, Presets } = mod.default ?? mod;
      bar = new SingleBar(
        { format: "  {bar} {percentage}% | {value_h} / {total_h} | {speed} | ETA {eta_formatted}", hideCursor: true, clearOnComplete: true, formatValue: (v: number, _o: unknown, type: string) => (type === "value" || type === "total" ? formatBytes(v) : String(v)) },
        Presets.shades_classic,
      ) as unknown as Bar;
      bar.start(total, done, { speed: "-" });
    });
  };

  return {
    onEvent(e: DownloadEvent): void {
      switch (e.type) {
        case "model-resolved":
          total += e.missingBytes;
          bar?.setTotal(total);
          break;
        case "file-start":
          active.add(`${e.model.id}/${e.path}`);
          ensureBar();
          break;
        case "file-progress": {
          done += e.delta;
          const secs = (Date.now() - started) / 1000;
          bar?.update(done, { speed: formatRate(done, secs), value_h: formatBytes(done), total_h: formatBytes(total) });
          if (showProgress && !io.isTTY && Date.now() - lastLog >= every) {
            lastLog = Date.now();
            const pct = total > 0 ? ` (${Math.floor((done / total) * 100)}%)` : "";
            io.out(`  ... ${formatBytes(done)} of ${formatBytes(total)}${pct}, ${formatRate(done, secs)}, ${active.size} file(s) in flight`);
          }
          break;
        }
        case "file-retry":
          if (mode !== "json") print(`  retry ${e.attempt} for ${e.path} of ${e.model.id} in ${(e.delayMs / 1000).toFixed(1)} s: ${e.reason}`, true);
          break;
        case "file-done":
          active.delete(`${e.model.id}/${e.path}`);
          break;
        case "model-skip":
        case "model-done":
          if (mode === "human") print(modelLine(e.result));
          break;
        case "model-error":
          if (mode !== "json") print(modelLine(e.result), true);
          break;
      }
    },

    async finish(summary: Summary, envLines: string[]): Promise<void> {
      await barLib;
      bar?.stop();
      bar = undefined;
      if (mode === "json") return;
      for (const m of summary.models) if (m.status === "planned") io.out(redact(modelLine(m)));
      const parts = [
        summary.planned ? `${summary.planned} to download` : "",
        `${summary.downloaded} downloaded`,
        `${summary.skipped} skipped`,
        `${summary.failed} failed`,
      ].filter(Boolean);
      const moved = summary.planned
        ? `${formatBytes(summary.models.reduce((n, m) => n + (m.status === "planned" ? m.downloadedBytes : 0), 0))} would be downloaded (dry run, nothing written)`
        : `${formatBytes(summary.downloadedBytes)} downloaded in ${formatSeconds(summary.seconds)}${summary.downloadedBytes ? ` (${formatRate(summary.downloadedBytes, summary.seconds)})` : ""}`;
      io.out(`Summary: ${parts.join(", ")}; ${moved}.`);
      if (envLines.length > 0 && summary.failed < summary.models.length) {
        io.out("Consumers load these models offline with:");
        for (const line of envLines) io.out(`  ${line}`);
      }
    },
  };
}
