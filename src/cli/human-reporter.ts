import type { DownloadEvent } from "../download/index.ts";
import { formatBytes } from "../util/index.ts";
import type { Output, Reporter } from "./output.ts";
import { every as once, type Progress } from "./progress.ts";
import { fileWaitLine, modelLine, progressLine, sharedLine, summaryLines } from "./report-lines.ts";

/** Where a human reporter shows progress: bars on a terminal, or logged lines elsewhere. */
export interface Screen {
  /** Writes a line (above the bars while they show). */
  write(line: string, toErr: boolean): void;
  /** Shows what `e` changed in the record; returns a line to print, if any. */
  update(e: DownloadEvent, progress: Progress): string | undefined;
  /** How long a wait may go unsaid before a "waiting" line. */
  readonly quietFor: number;
  /** Takes the progress display down (the bars' last lines are written). */
  close(): Promise<void>;
}

/**
 * A person reads this run: a line per model, the waits, retries and failures, progress as the screen shows it,
 * and no silence longer than `screen.quietFor` while a model waits.
 */
export function humanReporter(io: Output, screen: Screen, progress: Progress, every: number): Reporter {
  let lastLine = Date.now();
  const print = (line: string, toErr = false) => {
    lastLine = Date.now();
    screen.write(line, toErr);
  };
  const heartbeat =
    every > 0
      ? setInterval(() => {
          if (progress.waiting.size > 0 && Date.now() - lastLine >= screen.quietFor) print(`  ... waiting: ${progress.waitingText()}`);
        }, Math.min(screen.quietFor, 1000))
      : undefined;
  heartbeat?.unref();
  const toldWait = new Set<string>();
  return {
    output: { isTTY: io.isTTY, out: (line) => print(line), err: (line) => print(line, true) },
    notice: (line) => print(line, true),
    onEvent(e) {
      progress.download(e);
      const shared = sharedLine(e);
      if (shared) print(shared.line, shared.err);
      if (e.type === "model-skip" || e.type === "model-done") print(modelLine(e.result));
      if (e.type === "file-wait" && !toldWait.has(`${e.model.id}@${e.model.revision}`)) {
        toldWait.add(`${e.model.id}@${e.model.revision}`);
        print(fileWaitLine(e));
      }
      const shown = screen.update(e, progress);
      if (shown) print(shown);
    },
    async finish(summary, env) {
      if (heartbeat) clearInterval(heartbeat);
      await screen.close();
      for (const line of summaryLines(summary, env)) io.out(line);
    },
  };
}

/** Off a terminal (docker build logs, CI, nohup): a progress line every `every` ms, a line per file with `verbose`. */
export function logScreen(io: Output, o: { every: number; verbose: boolean; cap?: string }): Screen {
  const due = once(o.every);
  return {
    quietFor: o.every,
    write: (line, toErr) => (toErr ? io.err : io.out)(line),
    update(e, progress) {
      if (e.type === "file-progress" && due()) return progressLine(progress, o.cap);
      if (e.type === "file-done" && !e.reused && o.verbose) return `  done ${e.model.id}/${e.path} (${formatBytes(e.size)})`;
      return undefined;
    },
    close: async () => {},
  };
}
