import { describe, expect, it } from "vitest";
import { lstat, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { makeRepo } from "@download-models/local-hub";
import { openCache } from "../../src/store/index.ts";
import { download, hfModel, hub, msModel } from "../helpers/hub.ts";
import { leavePartial, registry, rootsOf } from "../helpers/volume.ts";
import { tempDir } from "../helpers/tmp.ts";

const MB = 1_000_000;
const isFile = (p: string) => lstat(p).then((s) => s.isFile() || s.isSymbolicLink(), () => false);

describe("openCache: the store's read side", () => {
  it("answers complete models with their manifests, refs, layout records and absolute paths, HF and ModelScope", { timeout: 60_000 }, async () => {
    const hf = makeRepo({ id: "acme/voice", files: [{ path: "w.safetensors", size: 300_000 }, { path: "cfg/config.json", text: "{}" }], extraBranches: { v1: [{ path: "old.bin", size: 2000 }] } });
    const ms = makeRepo({ id: "iic/speech.v2", source: "modelscope", files: [{ path: "m.pt", size: 7000 }, { path: "a/b.json", text: "{}" }] });
    const h = await hub({ repos: [hf, ms] });
    const root = await tempDir();
    await download(h, root, [hfModel("acme/voice"), hfModel("acme/voice", { revision: "v1" }), msModel("iic/speech.v2")]);
    const cache = openCache({ registry, roots: rootsOf(root) });

    h.resetStats();
    const voice = (await cache.completeModel(hfModel("acme/voice")))!;
    expect(voice).toMatchObject({ layout: "huggingface", manifest: { commit: hf.refs.main, id: "acme/voice" }, modelDir: join(root, "huggingface", "hub", "models--acme--voice") });
    expect(voice.snapshotDir).toBe(join(voice.modelDir, "snapshots", hf.refs.main!));
    expect(voice.files.map((f) => f.path).sort()).toEqual(["cfg/config.json", "w.safetensors"]);
    for (const f of voice.files) {
      expect(f.disk.startsWith(voice.snapshotDir)).toBe(true);
      expect((await stat(f.disk)).size).toBe(f.size); // through the link
      expect(f.blob!.startsWith(join(voice.modelDir, "blobs"))).toBe(true);
    }
    expect(JSON.parse(await readFile(voice.manifestFile, "utf8"))).toMatchObject({ tool: "download-models", commit: hf.refs.main });
    expect(Object.fromEntries(voice.refs)).toEqual({ main: hf.refs.main, v1: hf.refs.v1 });
    expect(voice.treeListing).toBe(join(voice.modelDir, "trees", `${hf.refs.main}.json`));
    expect(voice.layoutFiles.map((f) => [f.path.slice(voice.modelDir.length + 1), f.role])).toEqual([["refs/main", "marker"], [`trees/${hf.refs.main}.json`, "listing"]]);

    const speech = (await cache.completeModel(msModel("iic/speech.v2")))!;
    expect(speech.modelDir).toBe(join(root, "modelscope", "models", "iic", "speech___v2"));
    expect(speech.snapshotDir).toBe(speech.modelDir);
    expect(speech.files.map((f) => f.disk).sort()).toEqual([join(speech.modelDir, "a", "b.json"), join(speech.modelDir, "m.pt")]);
    expect([...speech.fileRevisions!.keys()].sort()).toEqual(["a/b.json", "m.pt"]);
    expect(speech.createdAt).toBeGreaterThan(0);
    const roles = Object.fromEntries(speech.layoutFiles.map((f) => [f.path.slice(join(root, "modelscope").length + 1), f.role]));
    expect(roles).toMatchObject({ "models/iic/speech___v2/.msc": "marker", "models/iic/speech___v2/.mdl": "listing", "models/iic/speech___v2/.mv": "listing" });
    expect(speech.manifestFile.startsWith(speech.modelDir)).toBe(false); // records beside the model, not in it

    expect((await cache.requests()).map((r) => `${r.source}:${r.id}@${r.revision}`).sort()).toEqual(["huggingface:acme/voice@main", "huggingface:acme/voice@v1", "modelscope:iic/speech.v2@master"]);
    expect((await cache.completeModels()).length).toBe(3);
    expect(await cache.completeModel(hfModel("acme/other"))).toBeUndefined();
    expect(h.requests).toEqual([]); // local reads only

    // A file gone from disk: the manifest is still there, the model is no longer complete.
    await writeFile(voice.files.find((f) => f.path === "w.safetensors")!.blob!, "short");
    expect(await cache.complete(hfModel("acme/voice"))).toBeUndefined();
    expect((await cache.manifests(hfModel("acme/voice")))[0]!.commit).toBe(hf.refs.main);
  });

  it("lists every model folder per layout, ours and foreign, with partial downloads counted by allocated blocks", { timeout: 60_000 }, async () => {
    const mine = makeRepo({ id: "acme/mine", files: [{ path: "w.bin", size: 10_000 }] });
    const big = makeRepo({ id: "acme/big", files: [{ path: "big.safetensors", size: 12 * MB }] });
    const h = await hub({ repos: [mine, big] });
    const root = await tempDir({
      "huggingface/hub/models--other--thing/blobs/abc": "x".repeat(500), // hf download's
      "modelscope/models/lib/own/w.bin": "y".repeat(300), // modelscope ≥ 1.23's own download
      "modelscope/hub/old/model/w.bin": "z".repeat(200), // modelscope 1.15–1.22's
    });
    await download(h, root, [hfModel("acme/mine")]);
    await leavePartial([big], root, hfModel("acme/big"));
    const cache = openCache({ registry, roots: rootsOf(root) });

    const models = await cache.models();
    const seen = Object.fromEntries(models.map((m) => [`${m.layout}:${m.id}`, { ours: m.ours, requests: m.requests.length, partials: m.partials.length }]));
    expect(seen).toEqual({
      "huggingface:acme/big": { ours: true, requests: 0, partials: 1 },
      "huggingface:acme/mine": { ours: true, requests: 1, partials: 0 },
      "huggingface:other/thing": { ours: false, requests: 0, partials: 0 },
      "modelscope:lib/own": { ours: false, requests: 0, partials: 0 },
      "modelscope:old/model": { ours: false, requests: 0, partials: 0 },
    });
    const partial = models.find((m) => m.id === "acme/big")!.partials[0]!;
    expect(partial.temp.endsWith(".incomplete")).toBe(true);
    expect(partial.paths).toContain(`${partial.temp}.json`); // the transfer's record
    // The temp file is as long as the whole file from the start (sparse): only what was written counts.
    expect((await stat(partial.temp)).size).toBe(12 * MB);
    expect(partial.bytes).toBeGreaterThan(0);
    expect(partial.bytes).toBeLessThan(11 * MB);
    expect(await cache.partials(cache.store(hfModel("acme/big")))).toEqual([partial]);
  });

  it("recognises record writes a kill cut short as part of their partial download", async () => {
    const root = await tempDir();
    const cache = openCache({ registry, roots: rootsOf(root) });
    const store = cache.store(msModel("iic/x"));
    const temp = store.tempPath({ path: "w.pt", size: 10, url: "" });
    await mkdir(dirname(temp), { recursive: true });
    for (const p of [temp, `${temp}.json`, `${temp}.json.0a1b2c3d.incomplete`]) await writeFile(p, "x");
    const [p] = await cache.partials(store);
    expect(p!.temp).toBe(temp);
    expect(p!.paths.sort()).toEqual([temp, `${temp}.json`, `${temp}.json.0a1b2c3d.incomplete`].sort());
    expect(await isFile(temp)).toBe(true);
    expect((await cache.models()).map((m) => [m.id, m.ours])).toEqual([["iic/x", true]]);
  });
});
