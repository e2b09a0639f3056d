import type { Redactor } from "../util/index.ts";
import { barScreen } from "./bar-screen.ts";
import { humanReporter, logScreen } from "./human-reporter.ts";
import { Progress } from "./progress.ts";
import { jsonEvent, sharedLine, summaryLines } from "./report-lines.ts";
import { leanHeapFor } from "./memory.ts";
import type { Mode, Output, Reporter } from "./output.ts";

export type { Mode, Output, Reporter } from "./output.ts";

export interface ReporterOptions {
  /** Off a terminal: how often the progress or waiting line is printed. @default 5000 */
  progressEveryMs?: number;
  redactor?: Redactor;
  /** Off a terminal, also a line per finished file. */
  verbose?: boolean;
  /** `--max-rate` as the user wrote it (`10M`), shown beside the speed. */
  maxRate?: string;
  /** The record the reporter folds events into (one of its own by default). */
  progress?: Progress;
}

/**
 * One reporter per output mode, over one progress record. `human` prints a line per model and, on a terminal, an
 * overall bar (bytes, speed, ETA) and one bar per active big file; elsewhere (docker build logs, CI, nohup) a
 * progress line every few seconds and, with --verbose, a line per finished file. `quiet` prints waits, retries and
 * failures and the summary only. `json` prints every event as one JSON line (progress at most once a second per
 * file) and the summary last.
 */
export function createReporter(rawIo: Output, mode: Mode, opts: ReporterOptions = {}): Reporter {
  const hide = (line: string) => opts.redactor?.redact(line) ?? line;
  const io: Output = { ...rawIo, out: (line) => rawIo.out(hide(line)), err: (line) => rawIo.err(hide(line)) };
  const progress = opts.progress ?? new Progress();
  const reporter = pickReporter(io, mode, progress, opts);
  // Every download the CLI runs reports through here: the place to see a huge listing coming.
  const onEvent = reporter.onEvent.bind(reporter);
  reporter.onEvent = (e) => {
    leanHeapFor(e);
    onEvent(e);
  };
  return reporter;
}

function pickReporter(io: Output, mode: Mode, progress: Progress, opts: ReporterOptions): Reporter {
  if (mode === "json") return jsonReporter(io, progress);
  if (mode === "quiet") return quietReporter(io, progress);
  const every = opts.progressEveryMs ?? 5000;
  const cap = opts.maxRate;
  const screen = io.isTTY ? barScreen(io, { every, ...(cap ? { cap } : {}) }) : logScreen(io, { every, verbose: Boolean(opts.verbose), ...(cap ? { cap } : {}) });
  return humanReporter(io, screen, progress, every);
}

/** `--quiet`: waits, retries and failures as they come, then the summary. */
function quietReporter(io: Output, progress: Progress): Reporter {
  return {
    output: io,
    notice: (line) => io.err(line),
    onEvent(e) {
      progress.download(e); // shown nowhere, kept for whoever reads the record
      const shown = sharedLine(e);
      if (shown) (shown.err ? io.err : io.out)(shown.line);
    },
    async finish(summary, env) {
      for (const line of summaryLines(summary, env)) io.out(line);
    },
  };
}

/** `--json`: every event as a JSON line, a file's progress at most once a second; the summary last. */
function jsonReporter(io: Output, progress: Progress): Reporter {
  const shownAt = new Map<string, number>();
  const json = (line: Record<string, unknown>) => io.out(JSON.stringify(line));
  return {
    output: io,
    notice: () => {},
    onEvent(e) {
      progress.download(e);
      if (e.type !== "file-progress") {
        if (e.type === "file-start" || e.type === "file-done") shownAt.delete(`${e.model.id}/${e.path}`);
        return json(jsonEvent(e));
      }
      const key = `${e.model.id}/${e.path}`;
      if (progress.active.has(key) && Date.now() - (shownAt.get(key) ?? 0) >= 1000) {
        shownAt.set(key, Date.now());
        json(jsonEvent(e));
      }
    },
    async finish(summary, env) {
      const peakRssBytes = process.resourceUsage().maxRSS * 1024;
      json({ type: "summary", ...summary, ok: summary.failed === 0, env: env.vars, peakRssBytes, time: new Date().toISOString() });
    },
  };
}
