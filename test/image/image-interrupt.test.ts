import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { makeRepo } from "@download-models/local-hub";
import { emptyLock, writeLock } from "../../src/lockfile/lockfile.ts";
import { buildImage } from "../../src/image/build.ts";
import { download, hfModel, hub } from "../helpers/hub.ts";
import { registry, rootsOf } from "../helpers/volume.ts";
import { runCli, startCli } from "../helpers/cli.ts";
import { tempDir } from "../helpers/tmp.ts";

// The smallest image that takes a moment to write: one model of 4 files (the digests pass reads them, then the
// layer is written), so a signal can land while a blob is half written.
const files = Array.from({ length: 4 }, (_, i) => ({ path: `w${i}.bin`, size: 6_000_000, seed: `i${i}` }));
const PROJECT = `export default { name: "img", models: [{ id: "acme/img" }] };`;

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Every blob of the layout under its final name is whole: its bytes hash to its name. Returns the temporary ones. */
async function checkBlobs(layout: string, what: string): Promise<string[]> {
  const dir = join(layout, "blobs", "sha256");
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names.filter((n) => !n.startsWith("."))) expect(await sha256File(join(dir, name)), `${what}: blob ${name}`).toBe(name);
  return names.filter((n) => n.startsWith("."));
}

const digestOf = (stdout: string) => /^Image oci:.*@(sha256:[0-9a-f]{64}):/m.exec(stdout)?.[1];

describe("image under SIGINT and kill -9", () => {
  it("at the start, middle and end: no blob under its digest that is not whole, the tag moves only when done; a rerun gives the same image", { timeout: 240_000 }, async () => {
    const h = await hub({ repos: [makeRepo({ id: "acme/img", files })] });
    const dir = await tempDir({ "projects/img.ts": PROJECT });
    const root = join(dir, "cache");
    expect((await download(h, root, [hfModel("acme/img")])).downloaded).toBe(1);
    const args = (layout: string) => ["image", "--all", "--no-download", "--root", root, "--projects-dir", join(dir, "projects"), "--output", `oci:${layout}:v1`];
    const env = { HOME: dir };
    const reference = await runCli(args(join(dir, "reference")), env);
    expect(reference.code, reference.stderr).toBe(0);
    const expected = digestOf(reference.stdout);
    expect(expected).toBeDefined();

    for (const signal of ["SIGINT", "SIGKILL"] as const) {
      const layout = join(dir, `layout-${signal}`);
      for (const where of ["start", "middle", "end"] as const) {
        const what = `${signal} at the ${where}`;
        const child = startCli(args(layout), env);
        let stdout = "";
        let stderr = "";
        child.stdout!.on("data", (d) => (stdout += d));
        child.stderr!.on("data", (d) => (stderr += d));
        const exited = new Promise<{ code: number | null; by: NodeJS.Signals | null }>((done) => child.on("exit", (code, by) => done({ code, by })));
        // start: the first layer is digested, nothing written; middle: a layer blob is being written; end: the last
        // layer is written (config, manifest and index.json are next).
        const reached = async () =>
          where === "start" ? /^layer /m.test(stdout)
            : where === "middle" ? (await readdir(join(layout, "blobs", "sha256")).catch(() => [] as string[])).some((n) => n.startsWith(".tmp-"))
              : /^written +download-models records/m.test(stdout);
        for (let i = 0; i < 6000 && child.exitCode === null && !(await reached()); i++) await sleep(5);
        const alive = child.exitCode === null;
        if (where !== "end") expect(alive, `${what}: the build ended before the signal\n${stdout}`).toBe(true);
        child.kill(signal);
        const { code, by } = await exited;
        // At the end the build may finish between the check and the signal: once its summary is printed the
        // interrupt handler is gone and SIGINT ends the process as it ends any (a shell shows 130). Only then.
        const finished = where === "end" && signal === "SIGINT" && code === null && by === "SIGINT";
        if (finished) expect(digestOf(stdout), `${what}: ended by SIGINT with no handler, before its summary\n${stderr}`).toBeDefined();
        else if (alive) expect(code, `${what}\n${stderr}`).toBe(signal === "SIGINT" ? 130 : null);
        if (alive && signal === "SIGINT" && !finished) expect(stderr).toMatch(/Interrupted \(SIGINT\): stopping the image; blobs already written or sent are kept/);
        const temps = await checkBlobs(layout, what);
        // An interrupted build removes the blob it was writing; a killed one leaves it for the next run to remove.
        if (signal === "SIGINT") expect(temps, what).toEqual([]);
        // The tag points at a manifest only once everything it references is there.
        const index = await readFile(join(layout, "index.json"), "utf8").catch(() => undefined);
        if (index) {
          const manifest = JSON.parse(index).manifests[0].digest.slice(7) as string;
          const m = JSON.parse(await readFile(join(layout, "blobs", "sha256", manifest), "utf8")) as { config: { digest: string }; layers: { digest: string }[] };
          for (const d of [m.config, ...m.layers]) expect(await sha256File(join(layout, "blobs", "sha256", d.digest.slice(7))), what).toBe(d.digest.slice(7));
        }
      }
      const again = await runCli(args(layout), env);
      expect(again.code, again.stderr).toBe(0);
      expect(digestOf(again.stdout), signal).toBe(expected);
      expect(await checkBlobs(layout, `${signal}: rerun`)).toEqual([]);
    }
  });

  it("a prune of the same store in another process leaves the models an image is reading", { timeout: 240_000 }, async () => {
    const small = Array.from({ length: 12 }, (_, i) => ({ path: `s${i}.bin`, size: 300_000, seed: `p${i}` }));
    const h = await hub({ repos: [makeRepo({ id: "acme/img", files: small }), makeRepo({ id: "acme/keep", files: [{ path: "k.bin", size: 100 }] })] });
    const dir = await tempDir();
    const root = join(dir, "cache");
    const model = hfModel("acme/img");
    const lease = { heartbeatMs: 500, staleMs: 5000, pollMs: 20 };
    // The model the pruning process declares keeps the root one of this tool's (a prune refuses roots without).
    expect((await download(h, root, [model, hfModel("acme/keep")], { transfer: { lease } })).downloaded).toBe(2);
    const lockPath = join(dir, "models.lock.json");
    await writeLock(lockPath, emptyLock());
    const stop = join(dir, "stop");
    // The pruning process declares another model: acme/img is what it removes whenever it may.
    const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "..", "helpers", "prune-loop.ts"), root, lockPath, stop, "acme/keep"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    const exited = new Promise<void>((done) => child.on("exit", () => done()));
    const prunes = () => readFile(`${stop}.rounds`, "utf8").then(Number, () => 0);
    const losses: string[] = [];
    let built = 0;
    try {
      for (let k = 1; k <= 8; k++) {
        const seen = await prunes();
        for (let waited = 0; waited < 30_000 && (await prunes()) <= seen; waited += 20) await sleep(20);
        await download(h, root, [model], { transfer: { lease } });
        try {
          await buildImage({ models: [model], registry, roots: rootsOf(root), env: {}, output: { kind: "layout", dir: join(dir, `layout-${k}`), tag: "v1" } });
          built++;
          expect(await checkBlobs(join(dir, `layout-${k}`), `round ${k}`)).toEqual([]);
        } catch (error) {
          const message = (error as Error).message;
          if (!/is not complete under .*download it first/.test(message)) losses.push(`round ${k}: ${message}`);
        }
      }
    } finally {
      await writeFile(stop, "");
      await exited;
    }
    expect(losses).toEqual([]);
    expect(built).toBeGreaterThan(0);
    expect((JSON.parse(out.trim()) as { removed: number }).removed).toBeGreaterThan(0);
  });
});
