// Prunes a root over and over (plan, then apply at once, as `prune --yes` does) until a stop file appears, reading
// the lockfile anew each round: the other process of a test that downloads newly locked commits meanwhile.
import { access, writeFile } from "node:fs/promises";
import { readLock } from "../../src/lockfile/lockfile.ts";
import { applyPrune, planPrune } from "../../src/store/prune.ts";
import { builtinDownloaders, createRegistry } from "../../src/sources/registry.ts";
import { resolveRoots } from "../../src/store/roots.ts";
import type { ModelRequest } from "../../src/types.ts";

const [root, lockPath, stopPath, ids] = process.argv.slice(2);
const registry = createRegistry(builtinDownloaders);
const roots = resolveRoots({ root: root!, env: {} });
const selection: ModelRequest[] = ids!.split(",").map((id) => ({ source: "huggingface", id, revision: "main", include: [], exclude: [], projects: [] }));
const lease = { heartbeatMs: 500, staleMs: 5000, pollMs: 20 };
const stopped = () => access(stopPath!).then(() => true, () => false);
let rounds = 0;
let removed = 0;
let errors = 0;
while (!(await stopped())) {
  try {
    const plan = await planPrune({ selection, lock: await readLock(lockPath!), registry, roots, lease });
    removed += (await applyPrune(plan)).removed.length;
  } catch (error) {
    errors++;
    process.stderr.write(`prune round ${rounds}: ${(error as Error).message}\n`);
  }
  rounds++;
  // The test paces its downloads by this count, so that prunes really run between them on any machine.
  await writeFile(`${stopPath}.rounds`, String(rounds));
}
process.stdout.write(JSON.stringify({ rounds, removed, errors }) + "\n");
