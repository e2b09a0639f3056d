import type { Dispatcher } from "undici";
import type { Env } from "../types.ts";
import type { FailedResponse, LayoutName, ModelRequest, Snapshot } from "../types.ts";
import type { LockEntry } from "../lockfile/index.ts";

/** What a downloader gets to resolve a model. It must not write files: the core does that. */
export interface ResolveContext {
  /** Token for this source: `--token`, else the source's own env var (see `tokenEnv`). */
  token?: string;
  env: Env;
  /** undici dispatcher (keep-alive pool) shared with the core; pass it to `request`/`fetch`. */
  dispatcher: Dispatcher;
  signal?: AbortSignal;
  /** Report a wait before retrying an API call (rate limit, no answer, 5xx), so the user sees why nothing moves. */
  onWait?: (wait: { reason: string; delayMs: number; attempt: number; attempts: number }) => void;
}

export type { FailedResponse } from "../types.ts";

export interface DescribeContext {
  /** The file whose request failed, if it was a file request. */
  path?: string;
  env: Env;
  /** Whether the failed request carried this source's token. */
  hasToken: boolean;
}

export interface Downloader {
  /** Name used as `source` in projects and `--source` on the command line. */
  name: string;
  /** Other names for the same source (`hf` for `huggingface`). */
  aliases?: string[];
  /** Where the core puts the files. Custom downloaders use "plain": `<root>/<name>/<id>/<path>`. @default "plain" */
  layout?: LayoutName;
  /** Revision used when a model names none. @default "main" */
  defaultRevision?: string;
  /** Env vars read for the token, in order. */
  tokenEnv?: string[];
  /**
   * Check this source's settings (endpoint env vars) before any request; the problem, naming the variable, or
   * undefined when they are usable.
   */
  checkEnv?(env: Env): string | undefined;
  /** Turn a model into a snapshot: the immutable commit and its files with URLs and hashes. */
  resolve(model: ModelRequest, ctx: ResolveContext): Promise<Snapshot>;
  /**
   * The snapshot a lock entry pins, without asking the hub (HF downloads by commit: the locked files at the locked
   * commit, with the lock's sizes and hashes). Sources without it are resolved again and compared with the lock.
   */
  fromLock?(entry: LockEntry, ctx: ResolveContext): Snapshot;
  /** Explain a failed file request in this hub's terms (gated, private, rate limited…). */
  describeError?(response: FailedResponse, model: ModelRequest, ctx: DescribeContext): Error | undefined;
}

/** The token for a source: the run's own (`--token`), else the first of the source's env vars that is set. */
export function tokenFor(downloader: Downloader, run: { token?: string | undefined; env: Env }): string | undefined {
  if (run.token) return run.token;
  for (const name of downloader.tokenEnv ?? []) if (run.env[name]) return run.env[name];
  return undefined;
}
