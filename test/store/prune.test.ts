import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { lstat, mkdir, readdir, rename, utimes, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { makeRepo } from "@download-models/local-hub";
import { emptyLock, type Lock } from "../../src/lockfile/lockfile.ts";
import { applyPrune, formatPlan, planPrune } from "../../src/store/prune.ts";
import { filtersKey, findComplete, manifestPath, writtenOrderFiltersKey } from "../../src/store/manifest.ts";
import { openStore } from "../../src/store/layouts/index.ts";
import { modelsOnDisk, verifyModels } from "../../src/store/verify-models.ts";
import { RootError } from "../../src/errors.ts";
import type { ModelRequest } from "../../src/types.ts";
import { download, hfModel, hub, msModel } from "../helpers/hub.ts";
import { leavePartial, lockNow, registry, rootsOf } from "../helpers/volume.ts";
import { tempDir } from "../helpers/tmp.ts";

const exists = (p: string) => lstat(p).then(() => true, () => false);

/** Every model whose manifest is still there is complete on disk (sizes, links, refs). */
async function noFalseCompletes(root: string): Promise<number> {
  const roots = rootsOf(root);
  const claimed = await modelsOnDisk(registry, roots);
  for (const m of claimed) {
    const store = openStore({ downloader: registry.get(m.source), model: m, roots });
    expect(await findComplete(store, m), `${m.id}@${m.revision} has a manifest but is not complete`).toBeDefined();
  }
  return claimed.length;
}

async function fill(root: string) {
  const keep = makeRepo({
    id: "acme/keep",
    files: [{ path: "w.safetensors", size: 300_000 }, { path: "shared.bin", size: 1000, seed: "shared" }],
    extraBranches: { v1: [{ path: "old.safetensors", size: 200_000 }, { path: "shared.bin", size: 1000, seed: "shared" }] },
  });
  const gone = makeRepo({ id: "acme/gone", files: [{ path: "w.bin", size: 40_000 }, { path: "sub/c.json", text: "{}" }] });
  const big = makeRepo({ id: "acme/big", files: [{ path: "big.safetensors", size: 12_000_000 }] });
  const speech = makeRepo({ id: "iic/speech", source: "modelscope", files: [{ path: "m.pt", size: 7000 }] });
  const oldSpeech = makeRepo({ id: "iic/old_speech.v2", source: "modelscope", files: [{ path: "a/m.pt", size: 9000 }] });
  const h = await hub({ repos: [keep, gone, big, speech, oldSpeech] });
  await download(h, root, [hfModel("acme/keep"), hfModel("acme/keep", { revision: "v1" }), hfModel("acme/gone"), msModel("iic/speech"), msModel("iic/old_speech.v2")]);
  await leavePartial([big], root, hfModel("acme/big"));
  return { h, keep, big };
}

describe("prune", () => {
  it("removes exactly what the dry run lists, keeps declared and locked models loadable and verify clean", { timeout: 60_000 }, async () => {
    const root = await tempDir();
    const { h, keep } = await fill(root);
    const roots = rootsOf(root);
    const selection: ModelRequest[] = [hfModel("acme/keep"), msModel("iic/speech")];
    const lock: Lock = await lockNow(h, [hfModel("acme/big")], emptyLock());
    const hfDir = join(roots.huggingface, "models--acme--keep");
    const v1 = keep.refs.v1!;

    const plan = await planPrune({ selection, lock, registry, roots });
    const paths = plan.items.map((i) => i.path);
    expect(paths).toContain(join(hfDir, "snapshots", v1));
    expect(paths).toContain(join(hfDir, "refs", "v1"));
    expect(paths).toContain(join(hfDir, "blobs", keep.commits[1]!.files[0]!.sha256)); // old.safetensors
    expect(paths).not.toContain(join(hfDir, "blobs", keep.commits[0]!.files[1]!.gitOid)); // shared with main
    expect(paths).toContain(join(roots.huggingface, "models--acme--gone"));
    expect(paths).toContain(join(roots.modelscope, "models", "iic", "old_speech___v2"));
    expect(paths.some((p) => p.includes("models--acme--big"))).toBe(false); // locked; its fresh partial stays
    expect(plan.items.map((i) => i.kind).indexOf("link")).toBeGreaterThan(plan.items.map((i) => i.kind).lastIndexOf("manifest"));
    expect(plan.bytes).toBeGreaterThanOrEqual(200_000 + 40_000 + 9000);
    expect(formatPlan(plan).at(-1)).toBe("Run again with --yes to remove them.");
    for (const p of paths) expect(await exists(p), p).toBe(true); // a dry run removes nothing

    h.resetStats();
    const { removed } = await applyPrune(plan);
    expect(h.requests).toEqual([]);
    expect(removed.map((i) => i.path)).toEqual(paths);
    for (const i of removed) if (i.kind !== "empty-dir") expect(await exists(i.path), i.path).toBe(false);
    // the compat links of the removed ModelScope model went with it; the kept one still has its own
    expect(await exists(join(roots.modelscope, "models", "iic", "old_speech.v2"))).toBe(false);
    expect(await exists(join(roots.modelscope, "hub", "iic", "speech"))).toBe(true);

    const results = await verifyModels({ models: [...selection], registry, roots });
    expect(results.map((r) => r.status)).toEqual(["ok", "ok"]);
    expect(await noFalseCompletes(root)).toBe(2);
    const again = await planPrune({ selection, lock, registry, roots });
    expect(again.items).toEqual([]);
    expect(formatPlan(again)).toEqual(["Nothing to prune."]);
  });

  it("removes stale partial files and their empty folders, and leaves a model another process is downloading", { timeout: 60_000 }, async () => {
    const root = await tempDir();
    const { big } = await fill(root);
    const roots = rootsOf(root);
    const blobs = join(roots.huggingface, "models--acme--big", "blobs");
    const temp = join(blobs, `${big.commits[0]!.files[0]!.sha256}.incomplete`);
    const selection = [hfModel("acme/big"), hfModel("acme/keep"), hfModel("acme/keep", { revision: "v1" }), hfModel("acme/gone"), msModel("iic/speech"), msModel("iic/old_speech.v2")];
    // Fresh: younger than a day, so kept (and complete ModelScope downloads leave no empty temp folders behind).
    const fresh = await planPrune({ selection, lock: emptyLock(), registry, roots });
    expect(fresh.items.map((i) => i.kind)).toEqual([]);
    await applyPrune(fresh);
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
    for (const name of await readdir(blobs)) await utimes(join(blobs, name), twoDaysAgo, twoDaysAgo);
    // A ModelScope partial left in a nested temp folder, two days old as well.
    const msStore = openStore({ downloader: registry.get("modelscope"), model: msModel("iic/speech"), roots });
    const msTemp = msStore.tempPath({ path: "sub/dir/x.pt", size: 10, url: "" });
    await mkdir(dirname(msTemp), { recursive: true });
    await writeFile(msTemp, "partial");
    await utimes(msTemp, twoDaysAgo, twoDaysAgo);

    const plan = await planPrune({ selection, lock: emptyLock(), registry, roots });
    expect(plan.items.filter((i) => i.kind === "partial").map((i) => i.path)).toEqual(expect.arrayContaining([temp, msTemp]));
    expect(plan.items.filter((i) => i.kind === "empty-dir").map((i) => i.path)).toEqual([dirname(msTemp), dirname(dirname(msTemp)), dirname(dirname(dirname(msTemp)))]);
    await applyPrune(plan);
    expect(await exists(temp)).toBe(false);
    expect(await exists(dirname(dirname(dirname(msTemp))))).toBe(false);

    // A live lock (rewritten just now) beside a partial: the whole model is left alone.
    const lockPath = `${temp}.lock`;
    await writeFile(temp, "x");
    await utimes(temp, twoDaysAgo, twoDaysAgo);
    await writeFile(lockPath, JSON.stringify({ owner: "elsewhere:1:ab", beat: 3 }));
    const onlyBig = [hfModel("acme/big")];
    const held = await planPrune({ selection: onlyBig, lock: emptyLock(), registry, roots, now: Date.now() });
    expect(held.items.some((i) => i.path.includes("models--acme--big"))).toBe(false);
    expect(held.skipped).toEqual([expect.objectContaining({ model: "hf:acme/big", reason: expect.stringContaining("another process is downloading it") })]);
    // Planned while the lock looked dead, then its heartbeat wrote again: apply leaves the model.
    await utimes(lockPath, twoDaysAgo, twoDaysAgo);
    const planned = await planPrune({ selection: onlyBig, lock: emptyLock(), registry, roots });
    expect(planned.items.some((i) => i.path.includes("models--acme--big"))).toBe(true);
    await writeFile(lockPath, JSON.stringify({ owner: "elsewhere:1:ab", beat: 4 }));
    const { skipped } = await applyPrune(planned);
    expect(skipped).toEqual([expect.objectContaining({ model: "hf:acme/big" })]);
    expect(await exists(temp)).toBe(true);
    expect(await exists(join(roots.huggingface, "models--acme--gone"))).toBe(false);
  });

  it("takes filters as sets: the same patterns in another order find the model complete, and prune keeps its manifest, also one written under the older written-order name", { timeout: 60_000 }, async () => {
    const root = await tempDir();
    const roots = rootsOf(root);
    const r = makeRepo({ id: "acme/filtered", files: [{ path: "w.safetensors", size: 30_000 }, { path: "config.json", text: "{}" }, { path: "extra.bin", size: 5000 }] });
    const h = await hub({ repos: [r] });
    const written = hfModel("acme/filtered", { include: ["*.safetensors", "*.json"] });
    const reordered = hfModel("acme/filtered", { include: ["*.json", "*.safetensors", "*.json"] });
    await download(h, root, [written]);
    const storeOf = (m: ModelRequest) => openStore({ downloader: registry.get("huggingface"), model: m, roots });
    const manifestItems = async (m: ModelRequest) =>
      (await planPrune({ selection: [m], lock: emptyLock(), registry, roots })).items.filter((i) => i.kind === "manifest");
    for (const m of [written, reordered]) {
      expect(await findComplete(storeOf(m), m)).toBeDefined();
      expect(await manifestItems(m)).toEqual([]);
    }
    // A store filled by an earlier version: the manifest is named after the filters in the order they were written.
    const current = manifestPath(storeOf(written), written);
    const older = writtenOrderFiltersKey(written.include, written.exclude);
    expect(older).toBeDefined();
    const olderPath = join(dirname(current), `main${older}.json`);
    await rename(current, olderPath);
    expect(await findComplete(storeOf(written), written)).toBeDefined();
    expect(await manifestItems(written)).toEqual([]);
    expect(await exists(olderPath)).toBe(true);
    // Other filters are another request: its manifest is not this one's.
    expect(filtersKey(["*.json"], [])).not.toBe(filtersKey(written.include, written.exclude));
    expect(filtersKey(reordered.include, [])).toBe(filtersKey(written.include, []));
  });

  it("refuses a root with no record of this tool", async () => {
    const root = await tempDir({ "huggingface/hub/models--a--b/blobs/x": "data", "modelscope/models/a/b/w.bin": "data" });
    await expect(planPrune({ selection: [], lock: emptyLock(), registry, roots: rootsOf(root) })).rejects.toThrow(RootError);
    await expect(planPrune({ selection: [], lock: emptyLock(), registry, roots: rootsOf(root) })).rejects.toThrow(/nothing there was downloaded by download-models/);
  });

  it("killed half-way with SIGKILL, leaves no model that claims to be complete but is not", { timeout: 90_000 }, async () => {
    const files = Array.from({ length: 30 }, (_, i) => ({ path: `f/${i}.bin`, size: 2000 + i }));
    const repos = Array.from({ length: 6 }, (_, i) => makeRepo({ id: `acme/m${i}`, files, extraBranches: { v1: files.slice(0, 10) } }));
    const h = await hub({ repos });
    for (const part of [0.05, 0.5]) {
      const root = await tempDir();
      await download(h, root, repos.flatMap((r) => [hfModel(r.id), hfModel(r.id, { revision: "v1" })]));
      expect(await noFalseCompletes(root)).toBe(12);
      // Keep m0 (main only): its v1 goes; every other model goes whole.
      const plan = await planPrune({ selection: [hfModel("acme/m0")], lock: emptyLock(), registry, roots: rootsOf(root) });
      const killAfter = Math.max(2, Math.floor(plan.items.length * part));
      const planPath = join(root, "plan.json");
      await writeFile(planPath, JSON.stringify(plan));
      const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "..", "helpers", "prune-slowly.ts"), planPath, "10"], { stdio: ["ignore", "pipe", "inherit"] });
      let lines = 0;
      const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        lines += d.split("\n").filter(Boolean).length;
        if (lines >= killAfter) child.kill("SIGKILL");
      });
      await exited;
      expect(lines).toBeGreaterThanOrEqual(killAfter);
      expect(lines).toBeLessThan(plan.items.length); // really half-way
      await noFalseCompletes(root);
      expect(await findComplete(openStore({ downloader: registry.get("huggingface"), model: hfModel("acme/m0"), roots: rootsOf(root) }), hfModel("acme/m0"))).toBeDefined();
    }
  });
});
