import { describe, expect, it } from "vitest";
import { makeRepo } from "@download-models/local-hub";
import { emptyLock, findEntry, requestOf } from "../../src/lockfile/lockfile.ts";
import { requestOfRecord, volumeModel } from "../../src/remote/layout.ts";
import { openCache } from "../../src/store/index.ts";
import { requestKey, selectionKey } from "../../src/util/index.ts";
import { sameRequest } from "../../src/cli/volume-commands.ts";
import { download, hfModel, hub } from "../helpers/hub.ts";
import { lockNow, registry, rootsOf } from "../helpers/volume.ts";
import { tempDir } from "../helpers/tmp.ts";

describe("one request identity", () => {
  it("a lock entry, a volume record and a store scan of one model agree on it; other filters make another model", { timeout: 60_000 }, async () => {
    const repo = makeRepo({ id: "acme/voice", files: [{ path: "w.safetensors", size: 3000 }, { path: "config.json", text: "{}" }, { path: "README.md", text: "x" }] });
    const h = await hub({ repos: [repo] });
    const root = await tempDir();
    // Declared with its filters in one order; the lock below is taken with them in another, a repeat included.
    const declared = hfModel("acme/voice", { include: ["*.safetensors", "*.json"], projects: ["tts"] });
    await download(h, root, [declared]);

    const cache = openCache({ registry, roots: rootsOf(root) });
    const scanned = (await cache.models()).flatMap((m) => m.requests);
    expect(scanned).toHaveLength(1);
    const complete = (await cache.completeModel(declared))!;
    const onVolume = requestOfRecord((await volumeModel({ complete, stagingRoot: root, prefix: "models/" })).manifest)!;
    const lock = await lockNow(h, [{ ...declared, include: ["*.json", "*.safetensors", "*.json"] }], emptyLock());
    const locked = requestOf(lock.models[0]!);

    const key = selectionKey(declared);
    expect([selectionKey(scanned[0]!), selectionKey(onVolume), selectionKey(locked)]).toEqual([key, key, key]);
    expect(findEntry(lock, scanned[0]!)).toBe(lock.models[0]);
    expect(findEntry(lock, onVolume)).toBe(lock.models[0]);
    expect(sameRequest(onVolume, locked)).toBe(true);
    expect(sameRequest(onVolume, scanned[0]!)).toBe(true);
    // A folder of its own is another download of the same model: the same entry in a lock or on a volume.
    const inFolder = { ...declared, localDir: "/srv/voice" };
    expect(requestKey(inFolder)).not.toBe(requestKey(declared));
    expect(findEntry(lock, inFolder)).toBe(lock.models[0]);

    // Other filters select other files: another model everywhere.
    const other = { ...declared, include: ["*.safetensors"] };
    expect(selectionKey(other)).not.toBe(key);
    expect(findEntry(lock, other)).toBeUndefined();
    expect(sameRequest(onVolume, other)).toBe(false);
    expect(await cache.completeModel(other)).toBeUndefined();
  });
});
