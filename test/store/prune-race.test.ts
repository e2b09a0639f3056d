import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { makeRepo } from "@download-models/local-hub";
import { emptyLock, entryFromSnapshot, putEntry, writeLock } from "../../src/lockfile/lockfile.ts";
import { download, hfModel, hub } from "../helpers/hub.ts";
import { resolveNow } from "../helpers/volume.ts";
import { startPruner, type PrunerReport } from "../helpers/pruner.ts";
import { tempDir } from "../helpers/tmp.ts";

const ROUNDS = 12;
const lease = { heartbeatMs: 500, staleMs: 5000, pollMs: 20 };

describe("prune while downloads run (two processes on one volume)", () => {
  it("a prune looping in another process never removes what a download of a newly locked commit needs", { timeout: 240_000 }, async () => {
    // Every round locks `main` at a new commit whose files are all new blobs: until the download links them, no
    // kept snapshot does, which is what a prune removes.
    const round = (k: number) => [
      { path: "model.safetensors", size: 3_000_000, seed: `w${k}` },
      ...Array.from({ length: 24 }, (_, i) => ({ path: `shards/${i}.bin`, size: 20_000 + i, seed: `s${k}-${i}` })),
    ];
    const branches = Object.fromEntries(Array.from({ length: ROUNDS }, (_, k) => [`r${k + 1}`, round(k + 1)]));
    const repo = makeRepo({ id: "acme/race", files: round(0), extraBranches: branches });
    const h = await hub({ repos: [repo] });
    const root = await tempDir();
    const lockPath = join(root, "models.lock.json");
    const model = hfModel("acme/race");
    const lockAt = async (branch: string) => putEntry(emptyLock(), entryFromSnapshot(model, await resolveNow(h, hfModel("acme/race", { revision: branch }))));
    let lock = await lockAt("main");
    await writeLock(lockPath, lock);
    expect((await download(h, root, [model], { lock, transfer: { lease } })).downloaded).toBe(1);

    const pruner = startPruner({ root, lockPath, keep: "acme/race", stopPath: join(root, "stop") });
    const losses: string[] = [];
    let report: PrunerReport;
    try {
      for (let k = 1; k <= ROUNDS; k++) {
        // Each download round starts only after another prune round finished.
        await pruner.nextRound();
        lock = await lockAt(`r${k}`);
        await writeLock(lockPath, lock);
        h.resetStats();
        const run = await download(h, root, [model], { lock, transfer: { lease } });
        expect(run.models[0]!.error).toBeUndefined();
        expect(run.downloaded).toBe(1);
        // Each byte once: nothing was removed under the download and fetched again.
        expect(h.bytesServed).toBe(round(k).reduce((n, f) => n + f.size, 0));
        const snap = join(root, "huggingface", "hub", "models--acme--race", "snapshots", lock.models[0]!.commit);
        for (const f of lock.models[0]!.files) {
          const data = await readFile(join(snap, f.path)).catch(() => undefined);
          if (!data || data.length !== f.size || (f.sha256 && createHash("sha256").update(data).digest("hex") !== f.sha256)) losses.push(`round ${k}: ${f.path}`);
        }
      }
    } finally {
      report = await pruner.stop();
    }
    expect(losses).toEqual([]);
    const { rounds, errors, stderr } = report;
    expect(stderr).toBe("");
    expect(errors).toBe(0);
    expect(rounds).toBeGreaterThanOrEqual(ROUNDS); // it really pruned all along, between and during the downloads
  });
});
