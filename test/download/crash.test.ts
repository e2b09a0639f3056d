import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { makeRepo } from "@download-models/local-hub";
import { hub } from "../helpers/hub.ts";
import { runCli, startCli } from "../helpers/cli.ts";
import { tempDir } from "../helpers/tmp.ts";

const MB = 1_000_000;

/** Invariants that must hold at any instant, even right after a SIGKILL. */
async function checkInvariants(root: string, r: ReturnType<typeof makeRepo>): Promise<void> {
  const dir = join(root, "huggingface", "hub", "models--acme--crash");
  const blobs = await readdir(join(dir, "blobs")).catch(() => [] as string[]);
  const byName = new Map(r.commits[0]!.files.map((f) => [f.lfs ? f.sha256 : f.gitOid, f]));
  for (const name of blobs.filter((b) => !b.includes("."))) {
    const f = byName.get(name);
    expect(f, `unexpected blob ${name}`).toBeDefined();
    expect(createHash("sha256").update(await readFile(join(dir, "blobs", name))).digest("hex")).toBe(f!.sha256);
  }
  const manifests = await readdir(join(dir, ".download-models")).catch(() => [] as string[]);
  if (manifests.some((m) => m.endsWith(".json"))) {
    // a manifest is written last: when it is there, every file is there and sound
    for (const f of r.commits[0]!.files) expect(blobs).toContain(f.lfs ? f.sha256 : f.gitOid);
  }
}

describe("crash and resume", () => {
  it("survives 8 SIGKILLs at random points of a 300 MB model on a slow link, reusing what was written", { timeout: 180_000 }, async () => {
    const r = makeRepo({
      id: "acme/crash",
      files: [
        { path: "model-00001-of-00002.safetensors", size: 192 * MB },
        { path: "model-00002-of-00002.safetensors", size: 102 * MB },
        { path: "tokenizer.json", size: 2 * MB, lfs: false },
        ...Array.from({ length: 16 }, (_, i) => ({ path: `configs/c${i}.json`, size: 250_000 - i })),
      ],
    });
    const size = r.commits[0]!.files.reduce((n, f) => n + f.size, 0);
    expect(Math.round(size / MB)).toBe(300);
    const h = await hub({ repos: [r], bandwidthPerConnection: 2 * MB });
    const root = await tempDir();
    const env = { HF_ENDPOINT: h.url, DOWNLOAD_MODELS_CHUNK_MB: "4" };
    const args = ["acme/crash", "--root", root, "--connections", "8", "--quiet"];
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const kills: number[] = [];
    for (let i = 0; i < 8; i++) {
      const child = startCli(args, env);
      const exited = new Promise((done) => child.on("exit", done));
      const after = Math.round(300 + random() * 1700); // anywhere from start-up and resolution to mid-transfer
      await sleep(after);
      child.kill("SIGKILL");
      await exited;
      kills.push(after);
      await checkInvariants(root, r);
    }
    const last = await runCli(args, env);
    expect(last.code).toBe(0);
    await checkInvariants(root, r);
    const snap = join(root, "huggingface", "hub", "models--acme--crash", "snapshots", r.refs.main!);
    for (const f of r.commits[0]!.files) expect((await readFile(join(snap, f.path))).length).toBe(f.size);
    const ratio = h.bytesServed / size;
    console.log(`8 kills at ${kills.join(", ")} ms: served ${(h.bytesServed / MB).toFixed(1)} MB for a ${(size / MB).toFixed(1)} MB model (${ratio.toFixed(3)}×)`);
    expect(ratio).toBeLessThanOrEqual(1.15);
  });
});
