import type { DownloadEvent, ModelResult } from "../download/index.ts";
import { modelLabel } from "../download/index.ts";
import type { Redactor } from "../net/index.ts";
import type { Summary } from "../download/index.ts";
import { formatBytes, formatRate, formatSeconds } from "../util/index.ts";

export interface Output {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Both stdout and stderr are a terminal: progress is drawn as bars, not logged. */
  isTTY: boolean;
}

export type Mode = "human" | "quiet" | "json";

interface Bar {
  update(value: number, payload?: object): void;
  setTotal(total: number): void;
}
interface Bars {
  create(total: number, start: number, payload?: object): Bar;
  remove(bar: Bar): void;
  log(text: string): void;
  /** Redraw now; also writes lines queued with `log`. */
  update(): void;
  stop(): void;
}

const FILE_BARS = 6;

const waitText = (ms: number) => (ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`);

/** Sources padded to the longest built-in name, so the id column lines up. */
function modelLine(r: ModelResult): string {
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
  }
}

/** An event as one JSON line: the model as `source:id@revision`, errors as their (redacted) message. */
function jsonEvent(e: DownloadEvent): Record<string, unknown> {
  const out: Record<string, unknown> = { ...e, time: new Date().toISOString() };
  if ("model" in e) out.model = modelLabel(e.model);
  if ("error" in e) out.error = e.error.message; // the CLI's output redacts every line
  return out;
}

/**
 * Renders core events: `human` prints a line per model and, on a terminal, an overall bar (bytes, speed, ETA) and
 * one bar per active big file; elsewhere (docker build logs, CI, nohup) a progress line every few seconds and a
 * line per finished file. `quiet` prints failures and the summary only. `json` prints every event as one JSON
 * line (progress at most once a second per file) and the summary last.
 */
export interface ReporterOptions {
  /** Off a terminal: how often the progress or waiting line is printed. @default 5000 */
  progressEveryMs?: number;
  redactor?: Redactor;
  /** Off a terminal, also a line per finished file. */
  verbose?: boolean;
  /** `--max-rate`, shown beside the speed. */
  maxRate?: number;
}

export function createReporter(rawIo: Output, mode: Mode, opts: ReporterOptions = {}) {
  const hide = (line: string) => opts.redactor?.redact(line) ?? line;
  const io: Output = { ...rawIo, out: (line) => rawIo.out(hide(line)), err: (line) => rawIo.err(hide(line)) };
  const started = Date.now();
  const every = opts.progressEveryMs ?? 5000;
  let total = 0;
  let done = 0;
  let lastLog = Date.now();
  const active = new Map<string, { bytes: number; size: number; bar?: Bar; lastJson: number }>();
  let bars: Bars | undefined;
  let overall: Bar | undefined;
  let barsLoading: Promise<void> | undefined;
  const useBars = mode === "human" && io.isTTY;
  // What each model not yet moving bytes waits for (the hub API, a retry, another process), and since when.
  const waiting = new Map<string, { what: string; since: number }>();
  const waitingFor = (key: string, what: string) => waiting.set(key, { what, since: waiting.get(key)?.since ?? Date.now() });
  const toldWait = new Set<string>();
  let lastLine = Date.now();

  const print = (line: string, toErr = false) => {
    lastLine = Date.now();
    if (bars) bars.log(line + "\n");
    else (toErr ? io.err : io.out)(line);
  };
  // No run stays silent while it waits: a line every `every` ms off a terminal, every 10 s on one.
  const quietFor = useBars ? Math.max(every, 10_000) : every;
  const heartbeat =
    mode === "human" && every > 0
      ? setInterval(() => {
          if (waiting.size === 0 || Date.now() - lastLine < quietFor) return;
          const list = [...waiting].slice(0, 3).map(([key, w]) => `${key} (${w.what}, ${formatSeconds((Date.now() - w.since) / 1000)})`);
          print(`  ... waiting: ${list.join("; ")}${waiting.size > 3 ? ` and ${waiting.size - 3} more` : ""}`);
        }, Math.min(quietFor, 1000))
      : undefined;
  heartbeat?.unref();
  const json = (line: Record<string, unknown>) => io.out(JSON.stringify(line));
  const cap = opts.maxRate ? ` (capped at ${formatBytes(opts.maxRate)}/s)` : "";
  const speed = () => `${formatRate(done, (Date.now() - started) / 1000)}${cap}`;
  const eta = () => {
    const secs = (Date.now() - started) / 1000;
    const rate = done / Math.max(secs, 0.001);
    return total > done && rate > 0 ? formatSeconds((total - done) / rate) : "-";
  };

  const loadBars = () => {
    if (!useBars || barsLoading) return;
    barsLoading = import("cli-progress").then((mod) => {
      const { MultiBar, Presets } = mod.default;
      const multi = new MultiBar(
        {
          format: "  {bar} {percentage}% | {label}",
          hideCursor: true,
          clearOnComplete: true,
          autopadding: true,
          barsize: 30,
        },
        Presets.shades_classic,
      );
      bars = multi as unknown as Bars;
      overall = bars.create(Math.max(total, 1), done, { label: "starting" });
      for (const [key, a] of active) addFileBar(key, a);
    });
  };

  const addFileBar = (key: string, a: { bytes: number; size: number; bar?: Bar }) => {
    if (!bars || a.bar || a.size < 1_000_000 || [...active.values()].filter((x) => x.bar).length >= FILE_BARS) return;
    a.bar = bars.create(a.size, a.bytes, { label: key.length > 60 ? `…${key.slice(-59)}` : key });
  };

  const overallLabel = () => `${formatBytes(done)} / ${formatBytes(total)} | ${speed()} | ETA ${eta()} | ${active.size} file(s)`;

  return {
    /** A line for the person at the terminal (stderr), drawn above the bars when they are showing. */
    notice(line: string): void {
      if (mode !== "json") print(line, true);
    },

    onEvent(e: DownloadEvent): void {
      if (mode === "json" && e.type !== "file-progress") json(jsonEvent(e));
      if ("model" in e) {
        const key = `${e.model.id}@${e.model.revision}`;
        if (e.type === "model-resolving") waitingFor(key, "asking the hub");
        else if (e.type === "file-wait") waitingFor(key, "another process is downloading it");
        else if (e.type !== "model-wait") waiting.delete(key);
      }
      switch (e.type) {
        case "model-wait":
          waitingFor(`${e.model.id}@${e.model.revision}`, `${e.reason}; retry ${e.attempt} of ${e.attempts}`);
          if (mode !== "json") {
            print(`  ${e.model.id}@${e.model.revision}: ${e.reason}: retrying in ${waitText(e.delayMs)}, attempt ${e.attempt} of ${e.attempts}`, true);
          }
          break;
        case "model-resolved":
          total += e.missingBytes;
          overall?.setTotal(Math.max(total, 1));
          break;
        case "file-start": {
          const key = `${e.model.id}/${e.path}`;
          const entry: { bytes: number; size: number; bar?: Bar; lastJson: number } = { bytes: 0, size: e.size, lastJson: 0 };
          loadBars();
          active.set(key, entry);
          addFileBar(key, entry);
          break;
        }
        case "file-resume":
          total -= e.bytes;
          overall?.setTotal(Math.max(total, 1));
          if (mode !== "json") print(`  resuming ${e.path} of ${e.model.id}: ${formatBytes(e.bytes)} of ${formatBytes(e.size)} already on disk`);
          break;
        case "file-progress": {
          done += e.delta;
          const a = active.get(`${e.model.id}/${e.path}`);
          if (a) {
            a.bytes = e.bytes;
            a.bar?.update(e.bytes);
          }
          overall?.update(Math.max(done, 0), { label: overallLabel() });
          if (mode === "json" && a && Date.now() - a.lastJson >= 1000) {
            a.lastJson = Date.now();
            json(jsonEvent(e));
          }
          if (mode === "human" && !useBars && Date.now() - lastLog >= every) {
            lastLog = Date.now();
            const pct = total > 0 ? ` (${Math.floor((done / total) * 100)}%)` : "";
            print(`  ... ${formatBytes(done)} of ${formatBytes(total)}${pct}, ${speed()}, ETA ${eta()}, ${active.size} file(s) in flight`);
          }
          break;
        }
        case "file-wait": {
          // One line per model, not one per file: the other process downloads them all.
          const key = `${e.model.id}@${e.model.revision}`;
          if (mode === "human" && !toldWait.has(key)) {
            toldWait.add(key);
            print(`  waiting for ${e.holder} (another process on this volume) to finish ${e.path} of ${e.model.id} (and the model's other files it holds)`);
          }
          break;
        }
        case "file-retry":
          if (mode !== "json") print(`  retry ${e.attempt} for ${e.path} of ${e.model.id} in ${(e.delayMs / 1000).toFixed(1)} s: ${e.reason}`, true);
          break;
        case "file-done": {
          const key = `${e.model.id}/${e.path}`;
          const a = active.get(key);
          if (a?.bar) bars?.remove(a.bar);
          active.delete(key);
          if (mode === "human" && !useBars && !e.reused && opts.verbose) print(`  done ${e.model.id}/${e.path} (${formatBytes(e.size)})`);
          break;
        }
        case "model-skip":
        case "model-done":
          if (mode === "human") print(modelLine(e.result));
          break;
        case "model-error":
          if (mode !== "json") print(modelLine(e.result), true);
          break;
      }
    },

    async finish(summary: Summary, env: { lines: string[]; vars: Record<string, string> }): Promise<void> {
      if (heartbeat) clearInterval(heartbeat);
      await barsLoading;
      bars?.update(); // lines queued with log() are written on a redraw, never by stop()
      bars?.stop();
      bars = undefined;
      if (mode === "json") {
        const peakRssBytes = process.resourceUsage().maxRSS * 1024;
        json({ type: "summary", ...summary, ok: summary.failed === 0, env: env.vars, peakRssBytes, time: new Date().toISOString() });
        return;
      }
      for (const m of summary.models) if (m.status === "planned") io.out(modelLine(m));
      const parts = [
        summary.planned ? `${summary.planned} to download` : "",
        `${summary.downloaded} downloaded`,
        summary.relinked ? `${summary.relinked} relinked` : "",
        `${summary.skipped} skipped`,
        `${summary.failed} failed`,
      ].filter(Boolean);
      const moved = summary.planned
        ? `${formatBytes(summary.models.reduce((n, m) => n + (m.status === "planned" ? m.downloadedBytes : 0), 0))} would be downloaded (dry run, nothing written)`
        : `${formatBytes(summary.downloadedBytes)} downloaded in ${formatSeconds(summary.seconds)}${summary.downloadedBytes ? ` (${formatRate(summary.downloadedBytes, summary.seconds)})` : ""}`;
      io.out(`Summary: ${parts.join(", ")}; ${moved}.`);
      if (env.lines.length > 0 && summary.failed < summary.models.length) {
        io.out("Consumers load these models offline with:");
        for (const line of env.lines) io.out(`  ${line}`);
      }
    },
  };
}
