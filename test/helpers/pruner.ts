import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** What the pruning process did, once stopped: its rounds, the paths it removed, failed rounds, its stderr. */
export interface PrunerReport {
  rounds: number;
  removed: number;
  errors: number;
  stderr: string;
}

export interface Pruner {
  /** Resolves once another prune round has finished (at most 30 s: a slow machine still proceeds). */
  nextRound(): Promise<void>;
  /** Asks the process to stop after its round, waits for it, and says what it did. */
  stop(): Promise<PrunerReport>;
}

/**
 * Another process pruning `root` in a loop (test/helpers/prune-loop.ts) with `lockPath` read anew each round and
 * `keep` (comma-separated HuggingFace ids) declared: the other side of a test about prune racing a writer.
 */
export function startPruner({ root, lockPath, keep, stopPath }: { root: string; lockPath: string; keep: string; stopPath: string }): Pruner {
  const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "prune-loop.ts"), root, lockPath, stopPath, keep], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  const exited = new Promise<void>((done) => child.on("exit", () => done()));
  const rounds = () => readFile(`${stopPath}.rounds`, "utf8").then(Number, () => 0);
  return {
    async nextRound() {
      const seen = await rounds();
      for (let waited = 0; waited < 30_000 && (await rounds()) <= seen; waited += 20) await new Promise((r) => setTimeout(r, 20));
    },
    async stop() {
      await writeFile(stopPath, "");
      await exited;
      return { ...(JSON.parse(out.trim()) as { rounds: number; removed: number; errors: number }), stderr: err };
    },
  };
}
