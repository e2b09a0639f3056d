import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { makeRepo } from "@download-models/local-hub";
import { bake } from "../../src/store/bake.ts";
import { download, hfModel, hub } from "../helpers/hub.ts";
import { registry } from "../helpers/volume.ts";
import { startCli, runMain } from "../helpers/cli.ts";
import { tempDir, walk } from "../helpers/tmp.ts";

const FILES = 48;
const COPYING = ".download-models-copying";
const model = hfModel("acme/many");

// A record written under a temporary name (`main.json.<host>-<pid>-<random>.incomplete`) and renamed: a kill between
// the two leaves the temporary file, never a partial record under its final name; the next run's write of that
// record removes it (its writer is gone).
const RECORD_TEMP = /\.[0-9a-f]{8}-\d+-[0-9a-f]{8}\.incomplete$/;

/**
 * Every path under `dir` with what it is (a file's sha256, a link's text); the bake's own work area left out, and
 * with `killed`, records a kill left under their temporary names.
 */
async function tree(dir: string, killed = false): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const rel of (await walk(dir)).sort()) {
    if (rel.startsWith(`${COPYING}/`) || (killed && RECORD_TEMP.test(rel))) continue;
    const path = join(dir, rel);
    const st = await lstat(path);
    out[rel] = st.isSymbolicLink() ? `link ${await readlink(path)}` : `file ${createHash("sha256").update(await readFile(path)).digest("hex")}`;
  }
  return out;
}

const blobsIn = (to: string) => readdir(join(to, "huggingface", "hub", "models--acme--many", "blobs")).then((n) => n.length, () => 0);
const exists = (path: string) => lstat(path).then(() => true, () => false);

/** Run `bake` in a child process and send it `signal` when `where` is reached; resolves with its exit code. */
async function killBake(args: string[], to: string, signal: NodeJS.Signals, where: "start" | "middle" | "end") {
  const child = startCli(args);
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
  const reached = async () =>
    where === "start" ? exists(join(to, COPYING)) : (await blobsIn(to)) >= (where === "middle" ? FILES / 2 : FILES);
  for (let i = 0; i < 6000 && child.exitCode === null && !(await reached()); i++) await sleep(5);
  const alive = child.exitCode === null;
  child.kill(signal);
  return { code: await exited, alive, stderr };
}

describe("bake under SIGINT and kill -9 (the serverless builder's copy step)", () => {
  it("at the start, middle and end leaves no partial file under a final name and no records; a rerun gives the same tree", { timeout: 240_000 }, async () => {
    const files = Array.from({ length: FILES }, (_, i) => ({ path: `shards/${i}.bin`, size: 2_000_000, seed: `s${i}` }));
    const h = await hub({ repos: [makeRepo({ id: "acme/many", files })] });
    const dir = await tempDir({ "projects/p.ts": `export default { name: "p", models: [{ id: "acme/many" }] };` });
    const from = join(dir, "cache");
    expect((await download(h, from, [model])).downloaded).toBe(1);
    const source = await tree(from);
    const reference = join(dir, "reference");
    await bake({ models: [model], registry, from, to: reference, env: {} });
    const expected = await tree(reference);

    for (const signal of ["SIGINT", "SIGKILL"] as const) {
      for (const where of ["start", "middle", "end"] as const) {
        const what = `${signal} at the ${where}`;
        const to = join(dir, `image-${signal}-${where}`);
        const r = await killBake(["bake", "--all", "--from", from, "--to", to, "--projects-dir", join(dir, "projects")], to, signal, where);
        if (where !== "end") expect(r.alive, `${what}: the bake ended before the signal`).toBe(true);
        if (r.alive) expect(r.code, `${what}\n${r.stderr}`).toBe(signal === "SIGINT" ? 130 : null);

        // Every file under its final name is whole: the same bytes as in the download root.
        const left = await tree(to, true);
        for (const [rel, what_] of Object.entries(left)) {
          if (rel.startsWith(".download-models/")) continue;
          expect(what_, `${what}: ${rel}`).toBe(source[rel]);
        }
        // Records only of a finished bake: download-models-check never reads records of a half-copied tree.
        if (left[".download-models/baked.txt"]) {
          for (const name of ["baked.txt", "SHA256SUMS", "SIZES", "baked.json"]) expect(left[`.download-models/${name}`], `${what}: ${name}`).toBe(expected[`.download-models/${name}`]);
        }
        // An interrupted bake removes its copies in flight; a killed one leaves them for the next run.
        if (signal === "SIGINT" && r.alive) expect(await exists(join(to, COPYING)), what).toBe(false);

        await bake({ models: [model], registry, from, to, env: {} });
        expect(await tree(to), what).toEqual(expected);
        expect(await exists(join(to, COPYING)), what).toBe(false);
      }
    }
    const verify = await runMain(["verify", "--root", join(dir, "image-SIGKILL-middle")]);
    expect(verify.stdout).toContain("1 ok, 0 corrupt");
  });

  it("a file of another size or age under the same name is copied again; records of an earlier bake go at the start", async () => {
    const h = await hub({ repos: [makeRepo({ id: "acme/many", files: [{ path: "w.bin", size: 100_000, seed: "a" }] })] });
    const from = await tempDir();
    expect((await download(h, from, [model])).downloaded).toBe(1);
    const to = await tempDir();
    await bake({ models: [model], registry, from, to, env: {} });
    const before = await tree(to);
    // A blob rewritten in place with the same size (what an older copy step could leave): not trusted.
    const blob = Object.keys(before).find((p) => p.includes("/blobs/"))!;
    const { writeFile, utimes } = await import("node:fs/promises");
    await writeFile(join(to, blob), Buffer.alloc(100_000, 1));
    await utimes(join(to, blob), new Date(), new Date(Date.now() - 3_600_000));
    const controller = new AbortController();
    controller.abort();
    await expect(bake({ models: [model], registry, from, to, env: {}, signal: controller.signal })).rejects.toThrow();
    expect(await exists(join(to, ".download-models", "baked.txt"))).toBe(false);
    await bake({ models: [model], registry, from, to, env: {} });
    expect(await tree(to)).toEqual(before);
  });
});
