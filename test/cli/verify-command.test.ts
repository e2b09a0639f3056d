import { describe, expect, it } from "vitest";
import { open, rm } from "node:fs/promises";
import { join } from "node:path";
import { makeRepo } from "@download-models/local-hub";
import { hub } from "../helpers/hub.ts";
import { runMain } from "../helpers/cli.ts";
import { tempDir } from "../helpers/tmp.ts";

describe("download-models verify", () => {
  it("re-hashes against the manifests, reports every corrupt or missing file, and --repair fetches only those", async () => {
    const r = makeRepo({
      id: "acme/v",
      files: [
        { path: "model.safetensors", size: 300_000 },
        { path: "sub/weights.bin", size: 120_000 },
        { path: "config.json", text: '{"a":1}\n' },
        { path: "tokenizer.json", size: 50_000, lfs: false },
      ],
    });
    const [model, weights, , tokenizer] = r.commits[0]!.files;
    const h = await hub({ repos: [r] });
    const root = await tempDir();
    const env = { HF_ENDPOINT: h.url };
    expect((await runMain(["acme/v", "--root", root, "-q"], env)).code).toBe(0);

    const ok = await runMain(["verify", "--root", root], env);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/ok +huggingface +acme\/v@main: 4 files, 470 kB re-hashed, all match/);

    const blobs = join(root, "huggingface", "hub", "models--acme--v", "blobs");
    const fh = await open(join(blobs, model!.sha256), "r+"); // same size, one byte different: only a hash can tell
    await fh.write(Buffer.from([0x42]), 0, 1, 1000);
    await fh.close();
    await rm(join(blobs, weights!.sha256));
    const tok = await open(join(blobs, tokenizer!.gitOid), "r+");
    await tok.write(Buffer.from("X"), 0, 1, 0);
    await tok.close();

    const bad = await runMain(["verify", "acme/v", "--root", root], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/CORRUPT +huggingface +acme\/v@main: 3 of 4 files bad/);
    expect(bad.stderr).toMatch(/model\.safetensors: sha256 [0-9a-f]{64}, expected [0-9a-f]{64}/);
    expect(bad.stderr).toMatch(/sub\/weights\.bin: missing/);
    expect(bad.stderr).toMatch(/tokenizer\.json: git sha1 [0-9a-f]{40}, expected [0-9a-f]{40}/);
    expect(bad.stdout).toMatch(/1 corrupt.*Run again with --repair/);

    h.resetStats();
    const repair = await runMain(["verify", "--repair", "--root", root], env);
    expect(repair.code).toBe(0);
    expect(h.bytesServed).toBe(model!.size + weights!.size + tokenizer!.size); // only the bad files crossed the wire
    const after = await runMain(["verify", "--root", root, "--json"], env);
    expect(JSON.parse(after.stdout)).toMatchObject({ type: "verify", ok: true, models: [{ id: "acme/v", status: "ok", problems: [] }] });
  });

  it("says when a model was never downloaded to this root", async () => {
    const r = await runMain(["verify", "acme/none", "--root", await tempDir()]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/not downloaded +huggingface +acme\/none@main: no manifest on this root/);
  });
});
