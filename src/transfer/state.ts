import { readFile, rm } from "node:fs/promises";
import { z } from "zod";
import { writeFileAtomic } from "../fs-utils.ts";
import type { Range } from "./ranges.ts";

const stateSchema = z.object({
  format: z.literal(1),
  /** What the bytes must hash to (or the etag the hub gave): a different remote file starts over. */
  identity: z.string(),
  size: z.number().int().nonnegative(),
  done: z.array(z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()])),
});

/** Durable record, beside `<file>.incomplete`, of which byte ranges of it are written and flushed. */
export type TransferState = z.infer<typeof stateSchema>;

export const statePath = (temp: string) => `${temp}.json`;

export async function readState(temp: string): Promise<TransferState | undefined> {
  try {
    const parsed = stateSchema.safeParse(JSON.parse(await readFile(statePath(temp), "utf8")));
    return parsed.success ? parsed.data : undefined;
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
