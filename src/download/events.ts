import type { ModelRequest } from "../types.ts";

export type ModelStatus = "downloaded" | "relinked" | "skipped" | "failed" | "planned";

/** Result of one model, as reported in the summary. */
export interface ModelResult {
  source: string;
  id: string;
  revision: string;
  commit?: string;
  status: ModelStatus;
  /** Files in the (filtered) snapshot. */
  files: number;
  /** Total size of those files. */
  bytes: number;
  /** Bytes moved over the network for this model in this run. */
  downloadedBytes: number;
  /** Files that were already on disk and reused. */
  reusedFiles: number;
  /** Files another process (or another request of this run) finished while this one waited for it. */
  sharedFiles?: number;
  /** Where a consumer finds the files (HF: the snapshot directory). */
  path?: string;
  projects: string[];
  seconds: number;
  error?: string;
  /** The request's filters: offline `snapshot_download` callers must pass the same patterns. */
  include?: string[];
  exclude?: string[];
  /** With a lockfile: fetched at the locked commit, or resolved now and added to the lock. */
  lock?: "locked" | "added";
}

/**
 * Progress is data: the core emits these, only the CLI renders them.
 * `model` is `source:id@revision`.
 */
export type DownloadEvent =
  | { type: "start"; models: number }
  | { type: "model-skip"; model: ModelRequest; result: ModelResult }
  | { type: "model-resolving"; model: ModelRequest }
  | { type: "model-wait"; model: ModelRequest; reason: string; delayMs: number; attempt: number; attempts: number }
  | { type: "model-resolved"; model: ModelRequest; commit: string; files: number; bytes: number; missingBytes: number }
  | { type: "file-start"; model: ModelRequest; path: string; size: number }
  | { type: "file-wait"; model: ModelRequest; path: string; holder: string }
  | { type: "file-resume"; model: ModelRequest; path: string; bytes: number; size: number }
  | { type: "file-progress"; model: ModelRequest; path: string; bytes: number; size: number; delta: number }
  | { type: "file-retry"; model: ModelRequest; path: string; attempt: number; delayMs: number; reason: string }
  | { type: "file-done"; model: ModelRequest; path: string; size: number; reused: boolean }
  | { type: "model-done"; model: ModelRequest; result: ModelResult }
  | { type: "model-error"; model: ModelRequest; result: ModelResult; error: Error };

export type EventSink = (event: DownloadEvent) => void;

export function modelLabel(m: Pick<ModelRequest, "source" | "id" | "revision">): string {
  return `${m.source}:${m.id}@${m.revision}`;
}
