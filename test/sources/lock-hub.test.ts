import { describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { corruptFile, makeRepo, moveBranch } from "@download-models/local-hub";
import { builtinDownloaders, createRegistry } from "../../src/sources/registry.ts";
import { emptyLock, findEntry, type LockEntry } from "../../src/lockfile/lockfile.ts";
import { diffEntries, formatDiff, huggingfaceLocate, listingMatches, lockedSnapshot, movedError } from "../../src/lockfile/diff.ts";
import { findComplete } from "../../src/store/manifest.ts";
import { openStore } from "../../src/store/layouts/index.ts";
import { download, hfModel, hub, msModel } from "../helpers/hub.ts";
import { lockNow, registry, resolveNow, rootsOf } from "../helpers/volume.ts";
import { tempDir } from "../helpers/tmp.ts";

/** The built-ins, with HuggingFace resolving a locked model from its lock entry (what the pipeline will do). */
function lockedRegistry(entry: LockEntry, endpoint: string) {
  const [hf, ms] = builtinDownloaders;
  return createRegistry([{ ...hf, resolve: async () => lockedSnapshot(entry, huggingfaceLocate(endpoint)) }, ms]);
}

describe("downloads that follow the lock", () => {
  it("downloads the locked commit after the branch moved, with zero revision requests; --update reports the move", async () => {
    const repo = makeRepo({ id: "acme/tts", files: [{ path: "w.safetensors", size: 300_000 }, { path: "config.json", text: '{"v":1}' }, { path: "gone.txt", text: "x" }] });
    const h = await hub({ repos: [repo] });
    const model = hfModel("acme/tts", { projects: ["tts"] });
    const lock = await lockNow(h, [model], emptyLock());
    const entry = findEntry(lock, model)!;
    const a = repo.refs.main!;
    expect(entry.commit).toBe(a);
    const b = moveBranch(repo, "main", [{ path: "w.safetensors", size: 310_000 }, { path: "config.json", text: '{"v":2}' }, { path: "new.txt", text: "y" }]).sha;
    expect(b).not.toBe(a);

    const root = await tempDir();
    h.resetStats();
    const summary = await download(h, root, [model], { lock });
    expect(summary.failed).toBe(0);
    expect(summary.models[0]!.lock).toBe("locked");
    expect(summary.lockAdded).toEqual([]);
    expect(h.requests.filter((r) => r.path.startsWith("/api/"))).toEqual([]); // no revision, no listing
    const store = openStore({ downloader: registry.get("huggingface"), model, roots: rootsOf(root) });
    expect((await findComplete(store, model))?.commit).toBe(a);
    expect(await readFile(join(store.modelDir, "refs", "main"), "utf8")).toBe(a);
    expect(await readFile(store.consumerPath(a, "config.json"), "utf8")).toBe('{"v":1}');
    // Offline readers that pin the commit find its whole listing, from the lock alone.
    const tree = JSON.parse(await readFile(join(store.modelDir, "trees", `${a}.json`), "utf8")) as { files: Record<string, unknown> };
    expect(Object.keys(tree.files).sort()).toEqual(["config.json", "gone.txt", "w.safetensors"]);

    const updated = findEntry(await lockNow(h, [model], lock), model)!;
    expect(updated.commit).toBe(b);
    const lines = formatDiff(diffEntries(entry, updated));
    expect(lines[0]).toBe(`hf:acme/tts@main: ${a.slice(0, 12)} → ${b.slice(0, 12)}`);
    expect(lines).toEqual(expect.arrayContaining(["  + new.txt (1 B)", "  - gone.txt (1 B)", "  ~ w.safetensors (300 kB → 310 kB)", "  ~ config.json (7 B → 7 B)"]));
  });

  it("fails a locked file the hub serves with other bytes", async () => {
    const repo = makeRepo({ id: "acme/bad", files: [{ path: "w.safetensors", size: 200_000 }] });
    const h = await hub({ repos: [repo] });
    const model = hfModel("acme/bad");
    const entry = findEntry(await lockNow(h, [model], emptyLock()), model)!;
    repo.commits[0]!.files[0] = corruptFile(repo.commits[0]!.files[0]!);
    const root = await tempDir();
    const summary = await download(h, root, [model], { registry: lockedRegistry(entry, h.url) });
    expect(summary.failed).toBe(1);
    const viaLock = await download(h, await tempDir(), [model], { lock: { lockfileVersion: 1, models: [entry] } });
    expect(viaLock.models[0]!.error).toMatch(/sha256/);
    expect(summary.models[0]!.error).toMatch(/sha256/);
    expect(await findComplete(openStore({ downloader: registry.get("huggingface"), model, roots: rootsOf(root) }), model)).toBeUndefined();
  });

  it("a ModelScope branch that moved since the lock gives the clear error with the file count", async () => {
    const repo = makeRepo({ id: "iic/asr", source: "modelscope", files: [{ path: "m.pt", size: 5000 }, { path: "conf.yaml", text: "a: 1" }] });
    const h = await hub({ repos: [repo] });
    const model = msModel("iic/asr");
    const entry = findEntry(await lockNow(h, [model], emptyLock()), model)!;
    expect(entry.files.every((f) => f.revision && f.sha256)).toBe(true);
    expect(listingMatches(entry, await resolveNow(h, model))).toBe(0);
    moveBranch(repo, "master", [{ path: "m.pt", size: 5000 }, { path: "conf.yaml", text: "a: 2" }, { path: "extra.bin", size: 10 }]);
    const changed = listingMatches(entry, await resolveNow(h, model));
    expect(changed).toBe(2);
    expect(movedError(entry, changed).message).toMatch(/^ms:iic\/asr: the hub's master moved since the lock \(2 files changed\): run `download-models lock --update ms:iic\/asr`/);
    const run = await download(h, await tempDir(), [model], { lock: { lockfileVersion: 1, models: [entry] } });
    expect(run.models[0]!.status).toBe("failed");
    expect(run.models[0]!.error).toMatch(/the hub's master moved since the lock \(2 files changed\)/);
    expect(h.requests.some((r) => r.path.includes("/repo?"))).toBe(false); // nothing downloaded
  });

  it("a model the lock does not have is resolved, downloaded and handed back as a new entry", async () => {
    const repo = makeRepo({ id: "acme/new", files: [{ path: "a.json", text: "{}" }, { path: "b.bin", size: 1000 }] });
    const h = await hub({ repos: [repo] });
    const model = hfModel("acme/new", { include: ["*.json"] });
    const summary = await download(h, await tempDir(), [model], { lock: emptyLock() });
    expect(summary.models[0]!.lock).toBe("added");
    expect(summary.lockAdded).toHaveLength(1);
    const added = summary.lockAdded[0]!;
    expect(added.commit).toBe(repo.refs.main);
    expect(added.files.map((f) => f.path)).toEqual(["a.json"]);
    expect(added.unselected?.map((f) => f.path)).toEqual(["b.bin"]); // recorded for the readers' listing cache
    expect(added.files[0]!.gitOid).toMatch(/^[0-9a-f]{40}$/);
  });
});
