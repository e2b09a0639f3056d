import { describe, expect, it } from "vitest";
import { makeRepo, moveBranch } from "@download-models/local-hub";
import { emptyLock } from "../../src/lockfile/lockfile.ts";
import { formatStatus, volumeStatus } from "../../src/store/status.ts";
import { download, hfModel, hub, msModel } from "../helpers/hub.ts";
import { leavePartial, lockNow, recordedBytes, registry, rootsOf } from "../helpers/volume.ts";
import { tempDir } from "../helpers/tmp.ts";

const MB = 1_000_000;

describe("status", () => {
  it("reports complete, partial, missing, other-commit, not locked and what nothing declares, with zero requests", { timeout: 60_000 }, async () => {
    const done = makeRepo({ id: "acme/done", files: [{ path: "w.safetensors", size: 300_000 }, { path: "config.json", text: "{}" }], extraBranches: { v1: [{ path: "old.safetensors", size: 200_000 }] } });
    const part = makeRepo({ id: "acme/part", files: [{ path: "big.safetensors", size: 12 * MB }, { path: "a.json", text: "{}" }] });
    const moved = makeRepo({ id: "acme/moved", files: [{ path: "w.bin", size: 1000 }] });
    const never = makeRepo({ id: "acme/never", files: [{ path: "w.bin", size: 4321 }] });
    const old = makeRepo({ id: "acme/old", files: [{ path: "w.bin", size: 50_000 }] });
    const speech = makeRepo({ id: "iic/speech", source: "modelscope", files: [{ path: "m.pt", size: 7000 }] });
    const h = await hub({ repos: [done, part, moved, never, old, speech] });
    const root = await tempDir();
    const selection = [hfModel("acme/done"), hfModel("acme/part"), hfModel("acme/moved"), hfModel("acme/never"), msModel("iic/speech")];
    const lock = await lockNow(h, selection.slice(0, 4), emptyLock());

    await download(h, root, [hfModel("acme/done"), hfModel("acme/done", { revision: "v1" }), hfModel("acme/old"), msModel("iic/speech")]);
    moveBranch(moved, "main", [{ path: "w.bin", size: 2000 }]);
    await download(h, root, [hfModel("acme/moved")]);
    await leavePartial([part], root, hfModel("acme/part"));
    const partial = await recordedBytes(h, root, hfModel("acme/part"), "big.safetensors");
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(12 * MB);

    h.resetStats();
    const status = await volumeStatus({ selection, lock, registry, roots: rootsOf(root) });
    expect(h.requests).toEqual([]);
    const byRef = Object.fromEntries(status.models.map((m) => [m.ref, m]));
    expect(byRef["hf:acme/done@main"]).toMatchObject({ state: "complete", locked: true, bytesOnDisk: 300_002 });
    // a.json (2 B) may or may not have landed before the stop; the big file's recorded bytes are counted either way
    expect(byRef["hf:acme/part@main"]).toMatchObject({ state: "partial", totalBytes: 12 * MB + 2 });
    expect(byRef["hf:acme/part@main"]!.bytesOnDisk - partial).toBeGreaterThanOrEqual(0);
    expect(byRef["hf:acme/part@main"]!.bytesOnDisk - partial).toBeLessThanOrEqual(2);
    expect(byRef["hf:acme/moved@main"]).toMatchObject({ state: "other-commit", commit: moved.refs.main, lockedCommit: moved.commits[0]!.sha });
    expect(byRef["hf:acme/never@main"]).toMatchObject({ state: "missing", bytesOnDisk: 0, totalBytes: 4321, locked: true });
    expect(byRef["ms:iic/speech@master"]).toMatchObject({ state: "complete", locked: false });

    // a model's bytes include this tool's few-hundred-byte records; a revision's are the blobs only it links to
    const undeclared = status.undeclared.map((u) => [u.ref, u.kind, u.revision, u.ours]);
    expect(undeclared).toEqual([["hf:acme/done", "revision", "v1", true], ["hf:acme/old", "model", undefined, true]]);
    expect(status.undeclared[0]!.bytes).toBe(200_000);
    expect(status.undeclared[1]!.bytes).toBeGreaterThanOrEqual(50_000);
    expect(status.undeclared[1]!.bytes).toBeLessThan(52_000);

    const hfRoot = status.roots.find((r) => r.layout === "huggingface")!;
    expect(hfRoot.usedBytes).toBeGreaterThanOrEqual(300_002 + 200_000 + 50_000 + 1000 + 2000 + partial);
    expect(hfRoot.freeBytes).toBeGreaterThan(0);
    expect(status.roots.map((r) => r.layout)).toEqual(["huggingface", "modelscope"]);

    const text = formatStatus(status).join("\n");
    expect(text).toMatch(/hf:acme\/part@main +partial +\S+ \S+ of 12\.0 MB \(\d+%\)/);
    expect(text).toMatch(new RegExp(`other commit +${moved.refs.main!.slice(0, 12)} on disk, the lock pins ${moved.commits[0]!.sha.slice(0, 12)}`));
    // the commit of a complete model and the one on disk of another commit start in one column
    const rows = text.split("\n");
    const complete = rows.find((l) => l.startsWith("hf:acme/done@main "))!;
    const other = rows.find((l) => l.startsWith("hf:acme/moved@main "))!;
    expect(other.indexOf(moved.refs.main!.slice(0, 12))).toBe(complete.search(/[0-9a-f]{12}$/));
    expect(text).toMatch(/ms:iic\/speech@master +complete .* \(not locked\)/);
    expect(text).toMatch(/hf:acme\/done +revision v1 \(\w{12}\) +200 kB/);
  });

  it("lists HuggingFace models other tools put in the cache as not ours, and counts nothing for them", async () => {
    const r = makeRepo({ id: "acme/mine", files: [{ path: "w.bin", size: 10_000 }] });
    const h = await hub({ repos: [r] });
    const root = await tempDir({ "huggingface/hub/models--other--thing/blobs/abc": "x".repeat(500) });
    await download(h, root, [hfModel("acme/mine")]);
    const status = await volumeStatus({ selection: [hfModel("acme/mine")], lock: emptyLock(), registry, roots: rootsOf(root) });
    expect(status.undeclared).toEqual([expect.objectContaining({ ref: "hf:other/thing", ours: false, bytes: 500 })]);
    expect(status.roots[0]!.usedBytes).toBeGreaterThanOrEqual(10_000);
    expect(status.roots[0]!.usedBytes).toBeLessThan(10_500 + 1000);
    expect(formatStatus(status).join("\n")).toContain("not downloaded by download-models: prune leaves it");
  });
});
