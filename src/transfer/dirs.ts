import { mkdir } from "node:fs/promises";

const made = new Map<string, Promise<unknown>>();

/**
 * `mkdir -p`, once per directory per process: hundreds of small files of one model share a few folders, and each
 * creation is a round trip to the thread pool (and, on a network volume, to the server).
 */
export function ensureDir(dir: string): Promise<unknown> {
  let p = made.get(dir);
  if (!p) {
    p = mkdir(dir, { recursive: true }).catch((error: unknown) => {
      made.delete(dir);
      throw error;
    });
    made.set(dir, p);
  }
  return p;
}
