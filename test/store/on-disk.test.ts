import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { lstat, readdir, rm, stat, utimes, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { makeRepo } from "@download-models/local-hub";
import { emptyLock } from "../../src/lockfile/lockfile.ts";
import { formatStatus, volumeStatus, type VolumeStatus } from "../../src/store/status.ts";
import { applyPrune, planPrune } from "../../src/store/prune.ts";
import { openCache } from "../../src/store/index.ts";
import { removeCutShortWrites } from "../../src/util/fs-utils.ts";
import { download, hfModel, hub } from "../helpers/hub.ts";
import { leavePartial, registry, rootsOf } from "../helpers/volume.ts";
import { runMain } from "../helpers/cli.ts";
import { tempDir, walk } from "../helpers/tmp.ts";

const MB = 1_000_000;
const exists = (p: string) => lstat(p).then(() => true, () => false);
const project = (name: string, models: object[]) => `export default ${JSON.stringify({ name, models })};`;

describe("status and prune say what is on disk", () => {
  it("reports partial downloads of every model, locked or not, declared or not, by the bytes really allocated", { timeout: 60_000 }, async () => {
    const part = makeRepo({ id: "acme/part", files: [{ path: "big.safetensors", size: 12 * MB }] });
    const gone = makeRepo({ id: "acme/gone", files: [{ path: "big.safetensors", size: 12 * MB, seed: "g" }] });
    await hub({ repos: [part, gone] });
    const root = await tempDir();
    await leavePartial([part], root, hfModel("acme/part"));
    await leavePartial([gone], root, hfModel("acme/gone"));
    const roots = rootsOf(root);
    const [written] = await openCache({ registry, roots }).partials(openCache({ registry, roots }).store(hfModel("acme/gone")));

    const status = await volumeStatus({ selection: [hfModel("acme/part")], lock: emptyLock(), registry, roots });
    // Neither locked nor ever complete: a partial all the same, not "missing".
    expect(status.models[0]).toMatchObject({ state: "partial", locked: false });
    expect(status.models[0]!.bytesOnDisk).toBeGreaterThan(0);
    expect(status.models[0]!.bytesOnDisk).toBeLessThan(12 * MB);
    // Nothing declares acme/gone and it never completed: still listed, as this tool's, with what it takes.
    expect(status.undeclared).toEqual([expect.objectContaining({ ref: "hf:acme/gone", kind: "partial", ours: true, bytes: written!.bytes })]);
    // The temp files are 12 MB long (sparse): a few MB were written, and that is what counts.
    expect((await stat(written!.temp)).size).toBe(12 * MB);
    expect(written!.bytes).toBeLessThan(11 * MB);
    const used = status.roots.find((r) => r.layout === "huggingface")!.usedBytes;
    expect(used).toBeLessThan(22 * MB);
    expect(formatStatus(status).join("\n")).toMatch(/hf:acme\/gone +partial download +[\d.]+ [kM]B/);
    expect(formatStatus(status)[0]).toMatch(/^hf:acme\/part@main +partial +[\d.]+ [kM]B of an unknown size +\(not locked\)$/);
  });

  it("prunes stale partial downloads of undeclared models, respecting --older-than, and the folders they leave empty", { timeout: 60_000 }, async () => {
    const keep = makeRepo({ id: "acme/keep", files: [{ path: "w.bin", size: 1000 }] });
    const gone = makeRepo({ id: "acme/gone", files: [{ path: "big.safetensors", size: 12 * MB }] });
    const h = await hub({ repos: [keep, gone] });
    const root = await tempDir();
    await download(h, root, [hfModel("acme/keep")]);
    await leavePartial([gone], root, hfModel("acme/gone"));
    const roots = rootsOf(root);
    const dir = join(roots.huggingface, "models--acme--gone");
    const o = { selection: [hfModel("acme/keep")], lock: emptyLock(), registry, roots };

    // Fresh (younger than the default day): it may be a download someone resumes; left.
    expect((await planPrune(o)).items.filter((i) => i.path.startsWith(dir))).toEqual([]);
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
    for (const name of await readdir(join(dir, "blobs"))) await utimes(join(dir, "blobs", name), twoDaysAgo, twoDaysAgo);
    expect((await planPrune({ ...o, olderThanMs: 3 * 24 * 3600 * 1000 })).items.filter((i) => i.path.startsWith(dir))).toEqual([]);
    const plan = await planPrune(o);
    const mine = plan.items.filter((i) => i.path.startsWith(dir));
    expect(mine.map((i) => i.kind)).toEqual(expect.arrayContaining(["partial", "empty-dir"]));
    expect(mine.filter((i) => i.kind === "partial").reduce((n, i) => n + i.bytes, 0)).toBeLessThan(11 * MB); // allocated, not 12 MB
    await applyPrune(plan);
    expect(await exists(dir)).toBe(false);
    expect(await exists(join(roots.huggingface, "models--acme--keep", "blobs"))).toBe(true);
  });

  it("refuses to prune a root with no record of this tool (exit 2), and a --root that does not exist is exit 2", { timeout: 60_000 }, async () => {
    const dir = await tempDir({ "projects/app.ts": project("app", [{ id: "acme/a" }]) });
    const root = await tempDir({ "huggingface/hub/models--other--thing/blobs/abc": "x".repeat(500) });
    const cli = (...args: string[]) => runMain([...args, "--projects-dir", join(dir, "projects")], { HOME: root });
    const refused = await cli("prune", "--root", root);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("nothing there was downloaded by download-models");
    expect(await exists(join(root, "huggingface/hub/models--other--thing/blobs/abc"))).toBe(true);
    for (const command of ["status", "prune"]) {
      const missing = await cli(command, "--root", join(root, "typo"));
      expect(missing.code, command).toBe(2);
      expect(missing.stderr).toContain("no such directory");
    }
  });

  it("leaves no leftovers: a download that fails before its first byte, and record writes a kill cut short", { timeout: 60_000 }, async () => {
    const r = makeRepo({ id: "acme/fails", files: [{ path: "big.safetensors", size: 2 * MB }, { path: "small.json", text: "{}" }] });
    const failing = await hub({ repos: [r], faults: { error5xx: 1 } });
    const root = await tempDir();
    const summary = await download(failing, root, [hfModel("acme/fails")], { transfer: { attempts: 2, baseDelayMs: 1, rangeThreshold: 1 << 20 } });
    expect(summary.failed).toBe(1);
    const blobs = join(root, "huggingface", "hub", "models--acme--fails", "blobs");
    expect((await walk(blobs).catch(() => [])).filter((p) => p.endsWith(".incomplete"))).toEqual([]);

    // A kill between a record's write and its rename leaves `<temp>.json.<random>.incomplete`: the next run's
    // download of that file removes it.
    const big = makeRepo({ id: "acme/big", files: [{ path: "big.safetensors", size: 12 * MB }] });
    const h = await hub({ repos: [big] });
    await leavePartial([big], root, hfModel("acme/big"));
    const [p] = await openCache({ registry, roots: rootsOf(root) }).partials(openCache({ registry, roots: rootsOf(root) }).store(hfModel("acme/big")));
    const cutShort = `${p!.temp}.json.0a1b2c3d.incomplete`;
    await writeFile(cutShort, '{"format":1,');
    await download(h, root, [hfModel("acme/big")], { transfer: { rangeThreshold: 1 << 20 } });
    expect(await exists(cutShort)).toBe(false);
  });

  it("a killed commit's record writes (manifest, refs, tree) go with the model's next commit; a write in flight stays", { timeout: 60_000 }, async () => {
    const h = await hub({ repos: [makeRepo({ id: "acme/rec", files: [{ path: "config.json", text: "{}" }] })] });
    const root = await tempDir();
    expect((await download(h, root, [hfModel("acme/rec")])).downloaded).toBe(1);
    const dir = join(root, "huggingface", "hub", "models--acme--rec");
    const [commit] = await readdir(join(dir, "snapshots"));
    // What a run killed between a record's temp write and its rename leaves: the manifest, written last, is missing.
    await rm(join(dir, ".download-models", "main.json"));
    const child = spawn(process.execPath, ["-e", "0"]);
    await new Promise((r) => child.on("exit", r));
    const writer = `${createHash("sha256").update(hostname()).digest("hex").slice(0, 8)}-${child.pid}`;
    const cutShort = [
      join(dir, ".download-models", `main.json.${writer}-0a1b2c3d.incomplete`),
      join(dir, "refs", `main.${writer}-0a1b2c3d.incomplete`), // huggingface_hub's cache scan would read a ref "main.<…>"
      join(dir, "trees", `${commit}.json.${writer}-0a1b2c3d.incomplete`),
    ];
    const inFlight = join(dir, "refs", `main.${writer.split("-")[0]}-${process.pid}-0a1b2c3d.incomplete`);
    for (const p of [...cutShort, inFlight]) await writeFile(p, "{");
    const again = await download(h, root, [hfModel("acme/rec")]);
    expect(again.failed).toBe(0);
    expect(await Promise.all(cutShort.map(exists))).toEqual([false, false, false]);
    expect(await exists(inFlight)).toBe(true);
    expect(await exists(join(dir, ".download-models", "main.json"))).toBe(true);
  });

  it("cleans record writes cut short in the S3 upload state, and leaves a write in flight", async () => {
    const dir = await tempDir();
    const record = join(dir, "0123abcd.json");
    const old = `${record}.deadbeef.incomplete`;
    const fresh = `${record}.feedf00d.incomplete`;
    for (const p of [record, old, fresh]) await writeFile(p, "{}");
    const hourAgo = new Date(Date.now() - 3600_000);
    await utimes(old, hourAgo, hourAgo);
    await removeCutShortWrites(record);
    expect([await exists(record), await exists(old), await exists(fresh)]).toEqual([true, false, true]);
  });

  it("status columns line up: sizes end in one column, commits and (not locked) start in one", () => {
    const model = (id: string) => ({ source: "huggingface", id, revision: "main", include: [], exclude: [], projects: [] });
    const c = "a".repeat(40);
    const status: VolumeStatus = {
      models: [
        { model: model("acme/a"), ref: "hf:acme/a@main", state: "complete", locked: true, commit: c, bytesOnDisk: 2_460_000, totalBytes: 2_460_000 },
        { model: model("acme/bb"), ref: "hf:acme/bb@main", state: "complete", locked: false, commit: c, bytesOnDisk: 800_000, totalBytes: 800_000 },
        { model: model("acme/c"), ref: "hf:acme/c@main", state: "missing", locked: false, bytesOnDisk: 0, totalBytes: 12_000_000_000 },
        { model: model("acme/d"), ref: "hf:acme/d@main", state: "complete", locked: true, commit: c, bytesOnDisk: 5, totalBytes: 5 },
      ],
      undeclared: [],
      roots: [],
    };
    const lines = formatStatus(status).filter((l) => l.startsWith("hf:"));
    const sizeEnds = lines.map((l) => l.search(/B( |$)/));
    expect(new Set(sizeEnds).size).toBe(1);
    const commitAt = lines.filter((l) => l.includes("aaaa")).map((l) => l.indexOf("aaaa"));
    expect(new Set(commitAt).size).toBe(1);
    const notLocked = lines.filter((l) => l.includes("(not locked)")).map((l) => l.indexOf("(not locked)"));
    expect(notLocked.length).toBe(2);
    expect(new Set(notLocked).size).toBe(1);
  });
});
