import { describe, expect, it } from "vitest";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import {
  emptyLock, entryFromSnapshot, findEntry, lockPathFor, putEntry, readLock, serializeLock, writeLock,
} from "../../src/lockfile/lockfile.ts";
import { diffEntries, formatDiff, formatFrozenProblems, frozenProblems, isUnchanged, listingMatches, movedError } from "../../src/lockfile/diff.ts";
import type { Snapshot } from "../../src/types.ts";
import { selectionKey } from "../../src/util/request-key.ts";
import { hfModel, msModel } from "../helpers/hub.ts";
import { tempDir } from "../helpers/tmp.ts";

const A = "a".repeat(40);
const B = "b".repeat(40);
const sha = (c: string) => c.repeat(64);

function snapshot(commit: string, files: Array<[string, number, string?]>): Snapshot {
  return {
    revision: "main",
    commit,
    files: files.map(([path, size, h]) => ({
      path, size, ...(h ? { sha256: sha(h), etag: sha(h) } : { gitSha1: "1".repeat(40) }),
      url: `http://user:SECRET@hub.example/${path}`, headers: { authorization: "Bearer hf_SECRET" },
    })),
  };
}

describe("models.lock.json", () => {
  it("is stable, sorted JSON with a fixed key order, the filtered files of the full listing and no URL or token", () => {
    const model = hfModel("org/b", { include: ["*.json", "*.safetensors"], exclude: ["x*"], projects: ["tts", "asr", "tts"] });
    const entry = entryFromSnapshot(model, snapshot(A, [["z.safetensors", 10, "c"], ["config.json", 2], ["x.json", 3], ["README.md", 1]]));
    expect(entry.files.map((f) => f.path)).toEqual(["config.json", "z.safetensors"]);
    const other = entryFromSnapshot(hfModel("org/a"), snapshot(B, [["w.bin", 5, "d"]]));
    const lock = putEntry(putEntry(emptyLock(), entry), other);
    const text = serializeLock(lock);
    expect(text).not.toMatch(/SECRET|http|url|headers|authorization/i);
    expect(text.endsWith("}\n")).toBe(true);
    const parsed = JSON.parse(text);
    expect(Object.keys(parsed)).toEqual(["lockfileVersion", "models"]);
    expect(parsed.models.map((m: { id: string }) => m.id)).toEqual(["org/a", "org/b"]);
    expect(Object.keys(parsed.models[0])).toEqual(["source", "id", "revision", "include", "exclude", "commit", "projects", "files"]);
    // a filtered model also records what its filters leave out, for the readers' listing cache
    expect(Object.keys(parsed.models[1])).toEqual(["source", "id", "revision", "include", "exclude", "commit", "projects", "files", "unselected"]);
    expect(parsed.models[1].unselected.map((f: { path: string }) => f.path)).toEqual(["README.md", "x.json"]);
    expect(parsed.models[1].projects).toEqual(["asr", "tts"]);
    expect(parsed.models[1].files[1]).toEqual({ path: "z.safetensors", size: 10, sha256: sha("c") });
    // the same content, put in another order, serialises byte for byte the same
    expect(serializeLock(putEntry(putEntry(emptyLock(), other), { ...entry, files: [...entry.files].reverse() }))).toBe(text);
  });

  it("keys models by source, id, revision and filters; pattern order does not matter", () => {
    expect(selectionKey(hfModel("o/n", { include: ["b", "a"] }))).toBe(selectionKey(hfModel("o/n", { include: ["a", "b", "a"] })));
    expect(selectionKey(hfModel("o/n"))).not.toBe(selectionKey(hfModel("o/n", { revision: "v1" })));
    expect(selectionKey(hfModel("o/n"))).not.toBe(selectionKey(msModel("o/n", { revision: "main" })));
    const lock = putEntry(emptyLock(), entryFromSnapshot(hfModel("o/n", { include: ["b", "a"] }), snapshot(A, [["a", 1]])));
    expect(findEntry(lock, hfModel("o/n", { include: ["a", "b"] }))?.commit).toBe(A);
    expect(findEntry(lock, hfModel("o/n"))).toBeUndefined();
  });

  it("reads back what it wrote atomically; a missing file is an empty lock", async () => {
    const dir = await tempDir();
    const path = join(dir, "models.lock.json");
    expect(await readLock(path)).toEqual(emptyLock());
    const lock = putEntry(emptyLock(), entryFromSnapshot(msModel("iic/x"), {
      revision: "master", commit: A, files: [{ path: "m.pt", size: 3, sha256: sha("e"), fileRevision: "r1", url: "http://h/x" }],
    }));
    await writeLock(path, lock);
    expect(await readLock(path)).toEqual(lock);
    expect((await readFile(path, "utf8"))).toContain('"revision": "r1"');
    expect((await readdir(dir)).filter((n) => n !== "models.lock.json")).toEqual([]); // no temp file left behind
  });

  it("refuses a lockfile from the future, invalid JSON and bad entries, naming the file", async () => {
    const dir = await tempDir({
      "future.json": JSON.stringify({ lockfileVersion: 7, models: [], whatever: true }),
      "broken.json": '{"lockfileVersion": 1, "models": [',
      "bad.json": JSON.stringify({ lockfileVersion: 1, models: [{ source: "huggingface", id: "o/n" }] }),
    });
    await expect(readLock(join(dir, "future.json"))).rejects.toThrow(/lockfileVersion 7; this download-models reads lockfileVersion 1 only.*newer download-models: upgrade/);
    await expect(readLock(join(dir, "broken.json"))).rejects.toThrow(`${join(dir, "broken.json")} is not valid JSON`);
    await expect(readLock(join(dir, "bad.json"))).rejects.toThrow(/bad\.json is not a valid lockfile:\n {2}- models\.0\.revision/);
  });

  it("lives beside the projects folder unless --lockfile says otherwise", () => {
    expect(lockPathFor(["/repo/projects", "/other/projects"])).toBe("/repo/models.lock.json");
    expect(lockPathFor(["/repo/projects"], "/tmp/x.lock.json")).toBe("/tmp/x.lock.json");
    expect(() => lockPathFor([])).toThrow(/--lockfile/);
  });
});

describe("lock diffs and --frozen", () => {
  const before = entryFromSnapshot(hfModel("org/m"), snapshot(A, [["keep.json", 5], ["w.safetensors", 1000, "c"], ["gone.txt", 7]]));
  const after = entryFromSnapshot(hfModel("org/m"), snapshot(B, [["keep.json", 5], ["w.safetensors", 1500, "d"], ["new.txt", 9]]));

  it("lists files added, removed and changed, with the size delta", () => {
    const diff = diffEntries(before, after);
    expect(diff.added.map((f) => f.path)).toEqual(["new.txt"]);
    expect(diff.removed.map((f) => f.path)).toEqual(["gone.txt"]);
    expect(diff.changed.map((c) => c.path)).toEqual(["w.safetensors"]);
    expect(diff.newBytes - diff.oldBytes).toBe(502);
    const lines = formatDiff(diff);
    expect(lines[0]).toBe(`hf:org/m@main: ${A.slice(0, 12)} → ${B.slice(0, 12)}`);
    expect(lines).toContain("  ~ w.safetensors (1.00 kB → 1.50 kB)");
    expect(lines.at(-1)).toBe("  1 added, 1 removed, 1 changed; size +502 B (1.01 kB → 1.51 kB)");
    expect(isUnchanged(diffEntries(before, before))).toBe(true);
    expect(formatDiff(diffEntries(before, before))).toEqual([`hf:org/m@main: unchanged (${A.slice(0, 12)})`]);
  });

  it("names every model missing or declared differently, with the command that fixes it", () => {
    const lock = putEntry(emptyLock(), before);
    const selection = [hfModel("org/m"), hfModel("org/new"), hfModel("org/m", { revision: "v2", include: ["*.json"] }), msModel("org/m", { revision: "main" })];
    const problems = frozenProblems(selection, lock);
    expect(problems.map((p) => [p.ref, p.kind])).toEqual([
      ["hf:org/new@main", "missing"],
      ["hf:org/m@v2", "declared-differently"],
      ["ms:org/m@main", "declared-differently"],
    ]);
    expect(problems[1]!.differences).toEqual(["revision: locked main, declared v2", "include: locked [], declared [*.json]"]);
    expect(problems[2]!.differences).toEqual(["source: locked huggingface, declared modelscope"]);
    const text = formatFrozenProblems(problems, "/repo/models.lock.json");
    expect(text).toContain("  download-models lock hf:org/new@main");
    expect(text).toContain("  download-models lock --update hf:org/m@v2");
    expect(frozenProblems([hfModel("org/m", { projects: ["other"] })], lock)).toEqual([]);
  });

  it("counts the ModelScope files whose revision, sha256 or presence moved, through the lock's filters", () => {
    const ms = (files: Array<[string, string, string]>): Snapshot => ({
      revision: "master", commit: A,
      files: files.map(([path, rev, h]) => ({ path, size: 4, sha256: sha(h), fileRevision: rev, url: "http://h" })),
    });
    const entry = entryFromSnapshot(msModel("iic/x", { exclude: ["*.md"] }), ms([["a.pt", "r1", "a"], ["b.pt", "r1", "b"], ["README.md", "r1", "c"]]));
    expect(listingMatches(entry, ms([["b.pt", "r1", "b"], ["a.pt", "r1", "a"], ["README.md", "r9", "f"]]))).toBe(0);
    expect(listingMatches(entry, ms([["a.pt", "r2", "a"], ["b.pt", "r1", "e"], ["c.pt", "r1", "c"]]))).toBe(3);
    expect(listingMatches(entry, ms([["a.pt", "r1", "a"]]))).toBe(1);
    expect(movedError(entry, 3).message).toBe(
      "ms:iic/x: the hub's master moved since the lock (3 files changed): run `download-models lock --update ms:iic/x` " +
        "(ModelScope serves files by branch or tag only, so the locked files cannot be fetched)",
    );
  });
});

