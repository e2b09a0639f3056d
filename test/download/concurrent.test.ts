import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeRepo } from "@download-models/local-hub";
import { hub } from "../helpers/hub.ts";
import { runCli, runMain } from "../helpers/cli.ts";
import { tempDir } from "../helpers/tmp.ts";

const MB = 1_000_000;
const repo = () =>
  makeRepo({
    id: "acme/shared",
    files: [
      { path: "model.safetensors", size: 40 * MB },
      ...Array.from({ length: 20 }, (_, i) => ({ path: `extra/part-${i}.bin`, size: 200_000 + i })),
      { path: "config.json", text: "{}\n" },
    ],
  });
const total = (r: ReturnType<typeof repo>) => r.commits[0]!.files.reduce((n, f) => n + f.size, 0);

describe("several processes on one root (pods sharing a volume)", () => {
  it("download each file once, never corrupt each other, and all end complete", async () => {
    const r = repo();
    const h = await hub({ repos: [r], bandwidthPerConnection: 8 * MB });
    const root = await tempDir();
    const env = { HF_ENDPOINT: h.url, DOWNLOAD_MODELS_CHUNK_MB: "4" };
    const runs = await Promise.all(Array.from({ length: 4 }, () => runCli(["acme/shared", "--root", root, "--quiet"], env)));
    for (const run of runs) {
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
    }
    const served = h.bytesServed / total(r);
    expect(served).toBeLessThanOrEqual(1.3);
    const snap = join(root, "huggingface", "hub", "models--acme--shared", "snapshots", r.refs.main!);
    for (const f of r.commits[0]!.files) {
      expect(createHash("sha256").update(await readFile(join(snap, f.path))).digest("hex")).toBe(f.sha256);
    }
    const blobs = await readdir(join(root, "huggingface", "hub", "models--acme--shared", "blobs"));
    expect(blobs.filter((b) => b.includes("."))).toEqual([]); // no temp, lock or range record left behind
    console.log(`4 processes: ${(h.bytesServed / MB).toFixed(1)} MB served for a ${(total(r) / MB).toFixed(1)} MB model (${served.toFixed(2)}×)`);
  });

  it("takes over a lock whose holder died (its heartbeat stopped), with no PID involved", async () => {
    const r = repo();
    const f = r.commits[0]!.files[0]!;
    const h = await hub({ repos: [r] });
    const root = await tempDir();
    const blobs = join(root, "huggingface", "hub", "models--acme--shared", "blobs");
    await mkdir(blobs, { recursive: true });
    // a lock left by a pod that was deleted mid-download: it will never beat again
    await writeFile(join(blobs, `${f.sha256}.incomplete.lock`), JSON.stringify({ owner: "gone-pod:4242:abc", beat: 7 }));
    const started = Date.now();
    const run = await runMain(["acme/shared", "--root", root], { HF_ENDPOINT: h.url, DOWNLOAD_MODELS_LOCK_STALE_MS: "1500" });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/waiting for gone-pod:4242:abc \(another process on this volume\) to finish model\.safetensors of acme\/shared/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    expect(createHash("sha256").update(await readFile(join(blobs, f.sha256))).digest("hex")).toBe(f.sha256);
  });
});
