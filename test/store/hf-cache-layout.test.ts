import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { readFile, readlink, readdir, rename, lstat, stat } from "node:fs/promises";
import { join } from "node:path";
import { makeRepo } from "@download-models/local-hub";
import { download, hfModel, hub } from "../helpers/hub.ts";
import { tinyModel } from "../helpers/repos.ts";
import { builtinDownloaders, createRegistry } from "../../src/sources/registry.ts";
import type { Downloader } from "../../src/sources/downloader.ts";
import { tempDir } from "../helpers/tmp.ts";

/** The shared tiny repo, with a second config.json in a sub-folder for the filter tests. */
const repo = () => tinyModel({ weights: 300_000, extraFiles: [{ path: "onnx/config.json", text: '{"opset":17}\n' }] });

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("HuggingFace cache layout (spec HF §0, §2)", () => {
  it("writes blobs by etag, relative snapshot symlinks, refs without newline, and a manifest", async () => {
    const r = repo();
    const h = await hub({ repos: [r] });
    const root = await tempDir();
    const summary = await download(h, root, [hfModel("acme/tiny-model")]);
    expect(summary.failed).toBe(0);
    expect(summary.downloaded).toBe(1);

    const commit = r.refs.main!;
    const dir = join(root, "huggingface", "hub", "models--acme--tiny-model");
    expect(await readFile(join(dir, "refs", "main"), "utf8")).toBe(commit); // exact, no trailing newline
    const snap = join(dir, "snapshots", commit);
    for (const f of r.commits[0]!.files) {
      const etag = f.lfs ? f.sha256 : f.gitOid;
      const depth = f.path.split("/").length - 1;
      expect(await readlink(join(snap, f.path))).toBe(`${"../".repeat(depth + 2)}blobs/${etag}`);
      const bytes = await readFile(join(snap, f.path));
      expect(sha256(bytes)).toBe(f.sha256);
      expect((await lstat(join(dir, "blobs", etag))).isFile()).toBe(true);
    }
    expect((await readdir(join(dir, "blobs"))).filter((n) => n.endsWith(".incomplete"))).toEqual([]);
    const manifest = JSON.parse(await readFile(join(dir, ".download-models", "main.json"), "utf8"));
    expect(manifest).toMatchObject({ id: "acme/tiny-model", revision: "main", commit });
    expect(manifest.files).toHaveLength(5);
    expect(summary.models[0]!.path).toBe(snap);
  });

  it("keeps every link resolving after the root is moved", async () => {
    const h = await hub({ repos: [repo()] });
    const base = await tempDir();
    await download(h, join(base, "a"), [hfModel("acme/tiny-model")]);
    await rename(join(base, "a"), join(base, "moved"));
    const snapRoot = join(base, "moved", "huggingface", "hub", "models--acme--tiny-model", "snapshots");
    const [commit] = await readdir(snapRoot);
    const st = await stat(join(snapRoot, commit!, "onnx", "deep", "model.onnx")); // follows the link
    expect(st.size).toBe(120_000);
  });

  it("skips a complete model with zero requests, and re-downloads with force", async () => {
    const h = await hub({ repos: [repo()] });
    const root = await tempDir();
    await download(h, root, [hfModel("acme/tiny-model")]);
    h.resetStats();
    const again = await download(h, root, [hfModel("acme/tiny-model")]);
    expect(again.skipped).toBe(1);
    expect(h.requests).toHaveLength(0);

    // a filtered request is answered from the full manifest, still with zero requests
    const filtered = await download(h, root, [hfModel("acme/tiny-model", { include: ["*.json"] })]);
    expect(filtered.models[0]).toMatchObject({ status: "skipped", files: 3 });
    expect(h.requests).toHaveLength(0);

    const forced = await download(h, root, [hfModel("acme/tiny-model")], { force: true });
    expect(forced.downloaded).toBe(1);
    expect(h.requests.length).toBeGreaterThan(0);
  });

  it("is not fooled by a missing or truncated file: the model is downloaded again", async () => {
    const r = repo();
    const h = await hub({ repos: [r] });
    const root = await tempDir();
    await download(h, root, [hfModel("acme/tiny-model")]);
    const blob = join(root, "huggingface", "hub", "models--acme--tiny-model", "blobs", r.commits[0]!.files[2]!.sha256);
    const { truncate } = await import("node:fs/promises");
    await truncate(blob, 10);
    h.resetStats();
    const again = await download(h, root, [hfModel("acme/tiny-model")]);
    expect(again.models[0]).toMatchObject({ status: "downloaded", reusedFiles: 4 });
    expect((await stat(blob)).size).toBe(300_000);
  });

  it("applies include/exclude and records a tag ref", async () => {
    const r = repo();
    const h = await hub({ repos: [r] });
    const root = await tempDir();
    const s = await download(h, root, [hfModel("acme/tiny-model", { revision: "v1.0", include: ["*.json", "onnx/"], exclude: ["onnx/config.json"] })]);
    expect(s.failed).toBe(0);
    const dir = join(root, "huggingface", "hub", "models--acme--tiny-model");
    const snap = join(dir, "snapshots", r.refs.main!);
    const listed = (await readdir(snap, { recursive: true })).sort();
    expect(listed).toEqual(["config.json", "onnx", "onnx/deep", "onnx/deep/model.onnx", "tokenizer.json"]);
    expect(await readFile(join(dir, "refs", "v1.0"), "utf8")).toBe(r.refs.main);
  });

  it("uses a commit hash as is: no revision call, no ref written", async () => {
    const r = repo();
    const h = await hub({ repos: [r] });
    const root = await tempDir();
    const s = await download(h, root, [hfModel("acme/tiny-model", { revision: r.refs.main! })]);
    expect(s.failed).toBe(0);
    expect(h.requests.some((q) => q.path.includes("/revision/"))).toBe(false);
    await expect(readdir(join(root, "huggingface", "hub", "models--acme--tiny-model", "refs"))).rejects.toThrow();
  });

  it("says which file no pattern matched", async () => {
    const h = await hub({ repos: [repo()] });
    const s = await download(h, await tempDir(), [hfModel("acme/tiny-model", { include: ["*.gguf"] })]);
    expect(s.models[0]!.error).toMatch(/no file matches include \[\*\.gguf\] \(the repo has 5 files: config\.json/);
  });

  it("refuses a listed file without a usable etag with a SnapshotError naming the model, the file and the fix", async () => {
    const h = await hub({ repos: [] });
    const hashless: Downloader = {
      name: "hashless",
      layout: "huggingface",
      resolve: async () => ({ revision: "main", commit: "c".repeat(40), files: [{ path: "w.bin", size: 3, url: `${h.url}/w.bin`, etag: "W/12-ab" }] }),
    };
    const root = await tempDir();
    const s = await download(h, root, [{ ...hfModel("team/w"), source: "hashless" }], { registry: createRegistry([...builtinDownloaders, hashless]) });
    expect(s.models[0]).toMatchObject({ status: "failed", errorKind: "SnapshotError" });
    expect(s.models[0]!.error).toMatch(/^team\/w@main: w\.bin has no usable etag \(a 64-hex sha256 or 40-hex git sha1, not "W\/12-ab"\).*The "hashless" downloader must give every file its sha256, gitSha1 or etag, or use layout "plain"\.$/);
    expect(h.requests).toEqual([]);
  });

  it("follows the tree listing's Link pages", async () => {
    const many = makeRepo({ id: "acme/many", files: Array.from({ length: 23 }, (_, i) => ({ path: `d${i % 3}/f${i}.txt`, text: `file ${i}\n` })) });
    const h = await hub({ repos: [many], pageSize: 5 });
    const root = await tempDir();
    const s = await download(h, root, [hfModel("acme/many")]);
    expect(s.models[0]).toMatchObject({ status: "downloaded", files: 23 });
    expect(h.requests.filter((q) => q.path.includes("/tree/")).length).toBeGreaterThanOrEqual(5);
  });
});

describe("the cache as another reader sees it", () => {
  it("@huggingface/hub's scanCacheDir (the rules of `hf cache ls`) finds the repo, its ref and every file, with no warning", async () => {
    const { scanCacheDir } = await import("@huggingface/hub");
    const r = repo();
    const h = await hub({ repos: [r] });
    const root = await tempDir();
    await download(h, root, [hfModel("acme/tiny-model", { revision: "v1.0" })]);
    const scan = await scanCacheDir(join(root, "huggingface", "hub"));
    expect(scan.warnings).toEqual([]);
    expect(scan.repos).toHaveLength(1);
    const [rev] = scan.repos[0]!.revisions;
    expect(rev!.commitOid).toBe(r.refs.main);
    expect(rev!.refs).toEqual(["v1.0"]);
    // It resolves every pointer to its blob; it does not descend into sub-folders (Python's scan does).
    expect(rev!.files.map((f) => f.path.split("/snapshots/")[1]!.slice(41)).sort()).toEqual(
      r.commits[0]!.files.map((f) => f.path).filter((p) => !p.includes("/")).sort(),
    );
    expect(rev!.files.every((f) => f.blob.path.includes("/blobs/"))).toBe(true);
  });
});

describe("trees/<commit>.json (commit pins load offline in huggingface_hub ≥ 1.26)", () => {
  it("holds the commit's whole listing in huggingface_hub's format, also for a filtered request", async () => {
    const r = repo();
    const h = await hub({ repos: [r] });
    const root = await tempDir();
    const s = await download(h, root, [hfModel("acme/tiny-model", { include: ["*.json"] })]);
    expect(s.downloaded).toBe(1);
    const commit = r.refs.main!;
    const dir = join(root, "huggingface", "hub", "models--acme--tiny-model");
    const text = await readFile(join(dir, "trees", `${commit}.json`), "utf8");
    const tree = JSON.parse(text) as { format_version: number; files: Record<string, Record<string, unknown>> };
    expect(tree.format_version).toBe(1);
    // Every file of the commit, not only the three the filter kept.
    const expected = Object.fromEntries(
      r.commits[0]!.files.map((f) => [f.path, { blob_id: f.gitOid, size: f.size, ...(f.lfs ? { lfs_sha256: f.sha256, lfs_size: f.size } : {}) }]),
    );
    expect(tree.files).toEqual(expected);
    // Keys sorted at every level, as Python's json.dump(sort_keys=True) writes them.
    expect(Object.keys(tree)).toEqual(["files", "format_version"]);
    expect(Object.keys(tree.files)).toEqual(Object.keys(tree.files).sort());
    for (const v of Object.values(tree.files)) expect(Object.keys(v)).toEqual(Object.keys(v).sort());
    expect((await readdir(join(dir, "snapshots", commit))).sort()).toEqual(["config.json", "onnx", "tokenizer.json"]); // model.safetensors was filtered out
  });
});
