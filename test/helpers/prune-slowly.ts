// Applies a saved prune plan slowly, printing each removal, so a test can SIGKILL it half-way.
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { applyPrune, type PrunePlan } from "../../src/store/prune.ts";

const [planPath, delay] = process.argv.slice(2);
const plan = JSON.parse(await readFile(planPath!, "utf8")) as PrunePlan;
await applyPrune(plan, {
  onItem: async (item) => {
    process.stdout.write(`${item.kind} ${item.path}\n`);
    await sleep(Number(delay ?? 5));
  },
});
process.stdout.write("done\n");
