import { readFile, rm } from "node:fs/promises";
import { writeFileAtomic } from "../util/index.ts";
import type { Range } from "./ranges.ts";

/** Durable record, beside `<file>.incomplete`, of which byte ranges of it are written and flushed. */
export interface TransferState {
  format: 1;
  /** What the bytes must hash to (or the etag the hub gave): a different remote file starts over. */
  identity: string;
  size: number;
  done: Array<[number, number]>;
}

const count = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

// Checked by hand, not by a schema library: this is read on every resume, and loading one costs more than the check.
function isState(v: unknown): v is TransferState {
  const s = v as Partial<TransferState> | null;
  return (
    typeof s === "object" && s !== null && s.format === 1 && typeof s.identity === "string" && count(s.size) &&
    Array.isArray(s.done) && s.done.every((r) => Array.isArray(r) && r.length === 2 && count(r[0]) && count(r[1]))
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

export async function writeState(temp: string, identity: string, size: number, done: readonly Range[]): Promise<void> {
  const state: TransferState = { format: 1, identity, size, done: done.map(([s, e]) => [s, e]) };
  await writeFileAtomic(statePath(temp), JSON.stringify(state));
}

export async function removeState(temp: string): Promise<void> {
  await rm(statePath(temp), { force: true });
}

/**
 * Bytes of `temp` already written and recorded for resume (what a new run will not fetch again); 0 when there is no
 * usable record for a file of `size` bytes.
 */
export async function partialBytes(temp: string, size: number): Promise<number> {
  const state = await readState(temp);
  if (!state || state.size !== size) return 0;
  return state.done.reduce((n, [a, b]) => n + (b - a), 0);
}
