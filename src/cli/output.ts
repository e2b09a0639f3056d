import type { DownloadEvent, Summary } from "../download/index.ts";
import type { EnvBlock } from "./report-lines.ts";

/** Where the CLI's lines go, and what a reporter is: kept apart so the reporters of each mode can name them. */

export interface Output {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Both stdout and stderr are a terminal: progress is drawn as bars, not logged. */
  isTTY: boolean;
}

export type Mode = "human" | "quiet" | "json";

/** Renders a run's download events in one output mode. */
export interface Reporter {
  /** A line for the person at the terminal (stderr), drawn above the bars when they are showing; none in JSON. */
  notice(line: string): void;
  onEvent(e: DownloadEvent): void;
  /** Stops the progress display and prints the end of the run: the summary and, when given, the env block. */
  finish(summary: Summary, env: EnvBlock): Promise<void>;
  /** Where other lines of the same run go (the upload reporter's), so that they do not tear the bars. */
  readonly output: Output;
}
