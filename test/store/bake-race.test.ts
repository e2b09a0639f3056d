import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { makeRepo } from "@download-models/local-hub";
import { emptyLock, writeLock } from "../../src/lockfile/lockfile.ts";
import { bake } from "../../src/store/bake.ts";
import { download, hfModel, hub } from "../helpers/hub.ts";
import { registry } from "../helpers/volume.ts";
import { startPruner, type PrunerReport } from "../helpers/pruner.ts";
import { tempDir } from "../helpers/tmp.ts";

const ROUNDS = 10;
const lease = { heartbeatMs: 500, staleMs: 5000, pollMs: 20 };

describe("bake while a prune of the same download root runs (two builds sharing a cache)", () => {
  it("a bake either copies the whole model or says it is not there; never a half copy", { timeout: 240_000 }, async () => {
    // The baked model is one the pruning process does not declare: it removes it whenever it may.
    const files = Array.from({ length: 30 }, (_, i) => ({ path: `shards/${i}.bin`, size: 200_000 + i, seed: `b${i}` }));
    const h = await hub({ repos: [makeRepo({ id: "acme/baked", files }), makeRepo({ id: "acme/keep", files: [{ path: "k.bin", size: 100 }] })] });
    const dir = await tempDir();
    const from = join(dir, "cache");
    const model = hfModel("acme/baked");
    // The model the pruning process declares keeps the root one of this tool's (a prune refuses roots without).
    expect((await download(h, from, [model, hfModel("acme/keep")], { transfer: { lease } })).downloaded).toBe(2);
    const lockPath = join(dir, "models.lock.json");
    await writeLock(lockPath, emptyLock());

    const pruner = startPruner({ root: from, lockPath, keep: "acme/keep", stopPath: join(dir, "stop") });
    let report: PrunerReport;
    const outcomes: string[] = [];
    const losses: string[] = [];
    try {
      for (let k = 1; k <= ROUNDS; k++) {
        // The model comes back (a download registers: the prune leaves it meanwhile), then is baked at once.
        await pruner.nextRound();
        await download(h, from, [model], { transfer: { lease } });
        const to = join(dir, `image-${k}`);
        try {
          const [baked] = await bake({ models: [model], registry, from, to, env: {}, lease });
          outcomes.push("baked");
          const snapshot = join(to, baked!.path);
          for (const f of files) {
            const data = await readFile(join(snapshot, f.path)).catch(() => undefined);
            const sums = await readFile(join(to, ".download-models", "SHA256SUMS"), "utf8");
            const sha = data && createHash("sha256").update(data).digest("hex");
            if (!data || data.length !== f.size || !sums.includes(`${sha}  ${baked!.path}/${f.path}\n`)) losses.push(`round ${k}: ${f.path}`);
          }
        } catch (error) {
          const message = (error as Error).message;
          // Pruned before the bake took hold of it: said plainly, nothing claimed.
          if (/is not complete under .*download it first/.test(message)) outcomes.push("not there");
          else losses.push(`round ${k}: ${message}`);
        }
      }
    } finally {
      report = await pruner.stop();
    }
    expect(losses).toEqual([]);
    const { rounds, removed, stderr } = report;
    expect(stderr).toBe("");
    expect(rounds).toBeGreaterThanOrEqual(ROUNDS); // it pruned all along
    expect(removed).toBeGreaterThan(0); // and removed the model between bakes
    expect(outcomes.filter((o) => o === "baked").length).toBeGreaterThan(0);
  });
});
