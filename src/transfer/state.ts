import { readFileSync } from "node:fs";
import { readdir, readFile, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { writeFileAtomic } from "../util/index.ts";
import type { Range } from "./ranges.ts";

/** Durable record, beside `<file>.incomplete`, of which byte ranges of it are written and flushed. */
export interface TransferState {
  format: 1;
  /** What the bytes must hash to (or the etag the hub gave): a different remote file starts over. */
  identity: string;
  size: number;
  /** Ranges flushed to disk (fdatasync): they survive a power cut. */
  done: Array<[number, number]>;
  /**
   * Ranges written (their write returned), a superset of `done`, valid only on the machine that wrote them and
   * until it restarts: the page cache outlives a killed process, not a reboot. Recorded often and cheaply, while
   * `done` costs an fdatasync and is recorded seldom.
   */
  written?: Array<[number, number]>;
  /** The kernel's boot id when `written` was recorded. */
  boot?: string;
}

let boot: string | undefined | null = null;
/** This boot of this machine (Linux); undefined elsewhere, where only flushed ranges are trusted. */
export function bootId(): string | undefined {
  if (boot === null) {
    try {
      boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim() || undefined;
    } catch {
      boot = undefined;
    }
  }
  return boot;
}

/** The ranges of a record this process may trust: everything written if this machine wrote it and has not restarted since. */
export function resumable(state: TransferState): Array<[number, number]> {
  return state.written && state.boot !== undefined && state.boot === bootId() ? state.written : state.done;
}

const count = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

const ranges = (v: unknown): boolean => Array.isArray(v) && v.every((r) => Array.isArray(r) && r.length === 2 && count(r[0]) && count(r[1]));

// Checked by hand, not by a schema library: this is read on every resume, and loading one costs more than the check.
function isState(v: unknown): v is TransferState {
  const s = v as Partial<TransferState> | null;
  return (
    typeof s === "object" && s !== null && s.format === 1 && typeof s.identity === "string" && count(s.size) &&
    ranges(s.done) && (s.written === undefined || ranges(s.written)) && (s.boot === undefined || typeof s.boot === "string")
  );
}

export const statePath = (temp: string) => `${temp}.json`;

export async function readState(temp: string): Promise<TransferState | undefined> {
  try {
    const parsed: unknown = JSON.parse(await readFile(statePath(temp), "utf8"));
    return isState(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export interface StateToWrite {
  identity: string;
  size: number;
  /** Ranges flushed to disk. */
  done: readonly Range[];
  /** Ranges written, flushed or not: recorded only where this boot can be told from the next (see `bootId`). */
  written?: readonly Range[];
}

export async function writeState(temp: string, { identity, size, done, written }: StateToWrite): Promise<void> {
  const id = bootId();
  const state: TransferState = {
    format: 1, identity, size, done: done.map(([s, e]) => [s, e]),
    ...(written && id !== undefined ? { written: written.map(([s, e]): [number, number] => [s, e]), boot: id } : {}),
  };
  await writeFileAtomic(statePath(temp), JSON.stringify(state));
}

export async function removeState(temp: string): Promise<void> {
  await rm(statePath(temp), { force: true });
}

/**
 * Remove record writes a killed run cut short (`<temp>.json.<random>.incomplete`, see writeFileAtomic). Only the
 * holder of the file's lease calls this: nobody else writes its record.
 */
export async function removeCutShortStates(temp: string): Promise<void> {
  const prefix = `${basename(statePath(temp))}.`;
  const names = await readdir(dirname(temp)).catch(() => [] as string[]);
  for (const name of names) if (name.startsWith(prefix) && name.endsWith(".incomplete")) await rm(join(dirname(temp), name), { force: true });
}

/**
 * Bytes of `temp` already written and recorded for resume (what a new run will not fetch again); 0 when there is no
 * usable record for a file of `size` bytes.
 */
export async function partialBytes(temp: string, size: number): Promise<number> {
  const state = await readState(temp);
  if (!state || state.size !== size) return 0;
  return resumable(state).reduce((n, [a, b]) => n + (b - a), 0);
}
