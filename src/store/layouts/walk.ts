import { lstat, readdir } from "node:fs/promises";
import type { Dirent, Stats } from "node:fs";
import { join } from "node:path";
import pLimit, { type LimitFunction } from "p-limit";

/** Local reads only: stats run this many at once (a network volume answers each with a round trip). */
export const STAT_CONCURRENCY = 32;

export function statLimit(): LimitFunction {
  return pLimit(STAT_CONCURRENCY);
}

/**
 * Bytes a file really takes: its allocated blocks, so a sparse partial download counts what is written, not its
 * announced size. Capped at the size: block rounding would make a 2-byte file count 4 kB.
 */
export function allocatedBytes(st: Pick<Stats, "size" | "blocks">): number {
  return Math.min(st.size, st.blocks * 512);
}

export interface WalkEntry {
  path: string;
  kind: "file" | "dir" | "link";
  /** Apparent size (regular files; 0 for the rest). */
  size: number;
  /** Allocated bytes (regular files; 0 for the rest). */
  bytes: number;
  mtimeMs: number;
}

/** Every entry under `dir` (not following links), stats bounded by `limit`; a missing `dir` is empty. */
export async function walk(dir: string, limit: LimitFunction = statLimit()): Promise<WalkEntry[]> {
  const out: WalkEntry[] = [];
  const visit = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => [] as Dirent[]);
    await Promise.all(
      entries.map(async (e) => {
        const path = join(d, e.name);
        if (e.isDirectory()) {
          out.push({ path, kind: "dir", size: 0, bytes: 0, mtimeMs: 0 });
          return visit(path);
        }
        const st = await limit(() => lstat(path).catch(() => undefined));
        if (!st) return;
        const file = st.isFile();
        out.push({ path, kind: st.isSymbolicLink() ? "link" : "file", size: file ? st.size : 0, bytes: file ? allocatedBytes(st) : 0, mtimeMs: st.mtimeMs });
      }),
    );
  };
  await visit(dir);
  return out;
}

/** Bytes allocated to the regular files under `dir`: what removing it frees (links count nothing). */
export async function treeBytes(dir: string, limit?: LimitFunction): Promise<number> {
  return (await walk(dir, limit)).reduce((n, e) => n + e.bytes, 0);
}
