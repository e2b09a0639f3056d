import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { lstat, mkdir, readFile, readdir, readlink, realpath, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeRepo, REF_BASE_TIME } from "@download-models/local-hub";
import { pickleDict, unpickle } from "../../src/sources/modelscope/pickle.ts";
import { download, hub, msModel } from "../helpers/hub.ts";
import { tempDir, walk } from "../helpers/tmp.ts";

const ID = "damo/speech_model.v2";
const MASKED = "speech_model___v2";

const repo = () =>
  makeRepo({
    source: "modelscope",
    id: ID,
    tags: ["v1.0.0"],
    files: [
      { path: "configuration.json", text: '{"framework":"pytorch","task":"speaker-verification"}\n' },
      { path: "README.md", text: "# demo\n" },
      { path: ".gitattributes", text: "*.pt filter=lfs\n" },
      { path: "model.pt", size: 3 * 1024 * 1024 },
      { path: "sub/deep/vocab.txt", size: 4000, lfs: false },
    ],
  });

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** The listing as the hub serves it: path → per-file Revision. */
async function listedRevisions(url: string, id: string, revision = "master"): Promise<Map<string, string>> {
  const res = await fetch(`${url}/api/v1/models/${id}/repo/files?Revision=${revision}&Recursive=True`);
  const body = (await res.json()) as { Data: { Files: { Path: string; Type: string; Revision: string }[] } };
  return new Map(body.Data.Files.filter((f) => f.Type === "blob").map((f) => [f.Path, f.Revision]));
}

describe("ModelScope cache layout (spec ModelScope §0 rules 1–4, §3)", () => {
  it("writes real files in models/<owner>/<masked name>, the three markers, and relative links", async () => {
    const r = repo();
    const h = await hub({ repos: [r] });
    const root = await tempDir();
    const summary = await download(h, root, [msModel(ID)]);
    expect(summary.models[0]?.error).toBeUndefined();
    expect(summary.downloaded).toBe(1);

    const cache = join(root, "modelscope");
    const dir = join(cache, "models", "damo", MASKED);
    expect(summary.models[0]!.path).toBe(dir);
    // Real files with the hub's bytes; .gitattributes is skipped like the library does.
    for (const f of r.commits[0]!.files.filter((x) => x.path !== ".gitattributes")) {
      const st = await lstat(join(dir, f.path));
      expect(st.isFile()).toBe(true);
      expect(sha256(await readFile(join(dir, f.path)))).toBe(f.sha256);
    }
    const files = await walk(dir);
    // Only the model: this tool's records live in the cache-level records folder, not in the directory users load.
    expect(files.sort()).toEqual(
      [".mdl", ".msc", ".mv", "README.md", "configuration.json", "model.pt", "sub/deep/vocab.txt"].sort(),
    );
    expect(files.some((p) => p.includes("incomplete") || p.endsWith(".lock"))).toBe(false);

    // .msc: one {'Path','Revision'} per file, Revision = the listing's per-file Revision.
    const listed = await listedRevisions(h.url, ID);
    const msc = unpickle(await readFile(join(dir, ".msc"))) as { Path: string; Revision: string }[];
    expect(msc.map((e) => Object.keys(e).sort())).toEqual(msc.map(() => ["Path", "Revision"]));
    expect(new Map(msc.map((e) => [e.Path, e.Revision]))).toEqual(new Map([...listed].filter(([p]) => p !== ".gitattributes")));
    // .mdl: exactly the spec's pickle of {'id': '<owner>/<masked>'}
    const mdl = await readFile(join(dir, ".mdl"));
    expect(mdl.equals(pickleDict({ id: `damo/${MASKED}` }))).toBe(true);
    expect(mdl.subarray(0, 4).equals(Buffer.from("80027d28", "hex"))).toBe(true);
    // .mv: text, no newline, CreatedAt of the revision from the revisions listing
    expect(await readFile(join(dir, ".mv"), "utf8")).toBe(`Revision:master,CreatedAt:${r.createdAt!.master}`);
    expect(r.createdAt!.master).toBe(REF_BASE_TIME);

    // Relative links: the dotted name, and the older layouts.
    expect(await readlink(join(cache, "models", "damo", "speech_model.v2"))).toBe(MASKED);
    expect(await readlink(join(cache, "hub", "damo", MASKED))).toBe(`../../models/damo/${MASKED}`);
    expect(await readlink(join(cache, "damo", MASKED))).toBe(`../models/damo/${MASKED}`);
    expect(await readlink(join(cache, "damo", "speech_model.v2"))).toBe(`../models/damo/${MASKED}`);
    // Nothing else at the cache root: no ast_indexer, no library runtime files.
    expect((await readdir(cache)).sort()).toEqual([".download-models", ".locks", "damo", "hub", "models"]); // .locks: the model leases prune honours
    // Our records beside the model; no partial file and no empty temp folder left behind.
    expect(await walk(join(cache, ".download-models"))).toEqual([`records/damo/${MASKED}/current`, `records/damo/${MASKED}/master.json`]);
    expect(await readdir(join(cache, ".download-models"))).toEqual(["records"]);
  });

  it("keeps every link resolving after the whole root moves, and still skips with zero requests", async () => {
    const h = await hub({ repos: [repo()] });
    const parent = await tempDir();
    const first = join(parent, "workspace");
    await mkdir(first);
    expect((await download(h, first, [msModel(ID)])).downloaded).toBe(1);
    const moved = join(parent, "runpod-volume");
    await rename(first, moved);

    const cache = join(moved, "modelscope");
    const dir = join(cache, "models", "damo", MASKED);
    const config = await readFile(join(dir, "configuration.json"), "utf8");
    for (const link of [
      join(cache, "models", "damo", "speech_model.v2"),
      join(cache, "hub", "damo", MASKED),
      join(cache, "damo", MASKED),
      join(cache, "damo", "speech_model.v2"),
    ]) {
      expect(await realpath(link)).toBe(await realpath(dir));
      expect(await readFile(join(link, "configuration.json"), "utf8")).toBe(config);
    }

    h.resetStats();
    const again = await download(h, moved, [msModel(ID)]);
    expect(again.skipped).toBe(1);
    expect(h.requests).toHaveLength(0);
  });

  it("keeps the entries of an existing .msc (written by Python, protocol 4) for files it does not touch", async () => {
    const h = await hub({ repos: [repo()] });
    const root = await tempDir();
    const dir = join(root, "modelscope", "models", "damo", MASKED);
    await mkdir(dir, { recursive: true });
    // pickle.dumps([{'Path': 'a.txt', 'Revision': 'abc'}, {'Path': 'b', 'Revision': 'abc'}], protocol=4)
    const py = Buffer.from(
      "80 04 95 37 00 00 00 00 00 00 00 5d 94 28 7d 94 28 8c 04 50 61 74 68 94 8c 05 61 2e 74 78 74 94 8c 08 52 65 76 69 73 69 6f 6e 94 8c 03 61 62 63 94 75 7d 94 28 68 02 8c 01 62 94 68 04 68 05 75 65 2e".replace(/\s/g, ""),
      "hex",
    );
    await writeFile(join(dir, ".msc"), py);
    const summary = await download(h, root, [msModel(ID, { include: ["*.json"] })]);
    expect(summary.models[0]?.error).toBeUndefined();
    const msc = unpickle(await readFile(join(dir, ".msc"))) as { Path: string; Revision: string }[];
    expect(msc.map((e) => e.Path).sort()).toEqual(["a.txt", "b", "configuration.json"]);
  });

  it("downloads a branch or tag by name and re-fetches only what differs when switching back", async () => {
    const r = makeRepo({
      source: "modelscope",
      id: "iic/switcher",
      tags: ["v1.0.0"],
      files: [
        { path: "configuration.json", text: '{"v":"master"}\n' },
        { path: "weights.bin", size: 200_000 },
      ],
      extraBranches: {
        dev: [
          { path: "configuration.json", text: '{"v":"dev"}\n' },
          { path: "weights.bin", size: 200_000, seed: "iic/switcher/weights.bin" },
        ],
      },
    });
    const h = await hub({ repos: [r] });
    const root = await tempDir();
    const dir = join(root, "modelscope", "models", "iic", "switcher");

    expect((await download(h, root, [msModel("iic/switcher", { revision: "dev" })])).downloaded).toBe(1);
    expect(await readFile(join(dir, "configuration.json"), "utf8")).toBe('{"v":"dev"}\n');
    expect(await readFile(join(dir, ".mv"), "utf8")).toMatch(/^Revision:dev,CreatedAt:\d+$/);

    const master = await download(h, root, [msModel("iic/switcher")]);
    expect(master.downloaded).toBe(1);
    expect(await readFile(join(dir, "configuration.json"), "utf8")).toBe('{"v":"master"}\n');
    // weights.bin has the same bytes on both branches: reused, not fetched again
    expect(master.models[0]!.reusedFiles).toBe(1);

    // dev's manifest is still there, but its files were overwritten: it is no longer complete
    h.resetStats();
    const back = await download(h, root, [msModel("iic/switcher", { revision: "dev" })]);
    expect(back.downloaded).toBe(1);
    expect(back.models[0]!.reusedFiles).toBe(1);
    expect(await readFile(join(dir, "configuration.json"), "utf8")).toBe('{"v":"dev"}\n');

    const tag = await download(h, root, [msModel("iic/switcher", { revision: "v1.0.0" })]);
    expect(tag.models[0]?.error).toBeUndefined();
    expect(await readFile(join(dir, "configuration.json"), "utf8")).toBe('{"v":"master"}\n');
  });

  it("refuses owners that collide with the cache's own directories", async () => {
    const h = await hub({ repos: [] });
    const root = await tempDir();
    const summary = await download(h, root, [msModel("models/x")]);
    expect(summary.failed).toBe(1);
    expect(summary.models[0]!.error).toMatch(/owner "models" collides/);
    expect(h.requests).toHaveLength(0);
  });
});
