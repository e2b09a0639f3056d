import type { ModelOnDisk, PartialFile } from "./cache.ts";

export { STAT_CONCURRENCY, statLimit, treeBytes, walk, type WalkEntry } from "./layouts/walk.ts";
export { partialFilesIn, type PartialFile } from "./layouts/records.ts";

/** A model this tool has on the roots (records or partial files), with every (revision, filters) it completed there. */
export type ModelOnRoot = Pick<ModelOnDisk, "source" | "id" | "layout" | "store" | "requests">;

export const modelKey = (m: { source: string; id: string }) => `${m.source}\0${m.id}`;

/** Is a download holding this lock now? Its heartbeat rewrites it every few seconds. */
export function lockIsLive(lock: PartialFile["lock"], now: number, liveMs: number): boolean {
  return lock !== undefined && now - lock.mtimeMs < liveMs;
}
