import { UsageError } from "../errors.ts";
import type { Env } from "../store/index.ts";
import { applyPrune, formatPlan, planPrune } from "../store/index.ts";
import { volumeSelection, type VolumeCommandOptions } from "./status-command.ts";
import type { Output } from "./reporter.ts";
import { interruptible } from "./interrupt.ts";
import { runOptions } from "./run-options.ts";

export interface PruneCommandOptions extends VolumeCommandOptions {
  yes?: boolean;
  olderThan?: number;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--older-than 24h` → milliseconds (s, m, h, d). */
export function parseDuration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)([smhd])$/.exec(value.trim());
  if (!match) throw new UsageError("`--older-than` must be a number and a unit: 90m, 24h, 7d (s, m, h, d)");
  return Number(match[1]) * UNITS[match[2]!]!;
}

/**
 * `download-models prune`: what no selected project and no lock entry needs. Without `--yes` only the plan is
 * printed; with it the plan is applied in its safe order, each path printed as it goes.
 */
export async function pruneCommand(options: PruneCommandOptions, io: Output, env: Env): Promise<number> {
  const selection = await volumeSelection(options, env);
  const planned = (signal?: AbortSignal) => planPrune({ ...selection, ...(options.olderThan !== undefined ? { olderThanMs: options.olderThan } : {}), ...(signal ? { signal } : {}) });
  if (!options.yes) {
    const plan = await planned();
    if (options.json) io.out(JSON.stringify({ applied: false, items: plan.items, bytes: plan.bytes, skipped: plan.skipped }, null, 2));
    else for (const line of formatPlan(plan)) io.out(line);
    return 0;
  }
  const human = !options.json;
  const line = "stopping the prune; what was removed stays removed, the rest is kept (run prune again)";
  return interruptible(io, line, async (interrupt) => {
    const run = runOptions({}, env, interrupt.signal);
    // Planning may wait on a download's lease (up to its stale time): inside the interrupt, like the removals.
    const plan = await planned(run.signal);
    const result = await applyPrune(plan, { signal: run.signal, onItem: (item) => void (human && io.out(formatPlan({ items: [item], skipped: [] }, true)[0]!)) });
    return printApplied(plan, result, options, io);
  });
}

function printApplied(plan: Awaited<ReturnType<typeof planPrune>>, result: Awaited<ReturnType<typeof applyPrune>>, options: PruneCommandOptions, io: Output): number {
  const skipped = [...plan.skipped, ...result.skipped];
  if (options.json) {
    const bytes = result.removed.reduce((n, i) => n + i.bytes, 0);
    io.out(JSON.stringify({ applied: true, removed: result.removed, bytes, skipped }, null, 2));
  } else {
    for (const line of formatPlan({ items: result.removed, skipped }, true).slice(result.removed.length)) io.out(line);
  }
  return 0;
}
