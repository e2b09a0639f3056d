import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeRepo } from "@download-models/local-hub";
import { hub } from "../helpers/hub.ts";
import { startCli } from "../helpers/cli.ts";
import { tempDir } from "../helpers/tmp.ts";

const MB = 1_000_000;
const FILES = 30_000;

/** One run of the real CLI with `--json`: its exit code and the peak RSS its summary reports. */
async function run(args: string[], env: Record<string, string>): Promise<{ code: number; peakMb: number; status: string; files: number }> {
  const child = startCli([...args, "--json"], env);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const code = await new Promise<number>((done) => child.on("exit", (c) => done(c ?? -1)));
  expect(code, stderr).toBe(0);
  const summary = JSON.parse(stdout.trim().split("\n").at(-1)!) as { peakRssBytes: number; models: Array<{ status: string; files: number }> };
  return { code, peakMb: summary.peakRssBytes / MB, status: summary.models[0]!.status, files: summary.models[0]!.files };
}

describe("huge listings", () => {
  // Seen: 300,000 files took 553 MB for a dry run, 1.2 GB for a download and 1.4 GB to find the model complete again.
  // Every byte is on disk already (written here, as a finished earlier run would have left the blobs), so the run
  // plans, links and records 30,000 files without waiting on 30,000 requests. Before: 286 MB and 219 MB.
  it("plans, links, records and finds complete a model of 30,000 files with one compact copy of its listing", async () => {
    const repo = makeRepo({ id: "acme/many", files: Array.from({ length: FILES }, (_, i) => ({ path: `shards/${Math.floor(i / 1000)}/${i}.json`, text: `{"i":${i}}\n` })) });
    const h = await hub({ repos: [repo], pageSize: 1000 });
    const root = await tempDir();
    const blobs = join(root, "huggingface", "hub", "models--acme--many", "blobs");
    await mkdir(blobs, { recursive: true });
    const files = repo.commits[0]!.files;
    for (let i = 0; i < files.length; i++) await writeFile(join(blobs, files[i]!.gitOid), `{"i":${i}}\n`);
    const env = { HF_ENDPOINT: h.url };

    const first = await run(["acme/many", "--root", root], env);
    expect(first).toMatchObject({ status: "relinked", files: FILES });
    const again = await run(["acme/many", "--root", root], env);
    expect(again).toMatchObject({ status: "skipped", files: FILES });
    // A CLI that does nothing peaks near 100 MB; one compact record per file adds ~1 kB, garbage included. Node 22+
    // lets the young generation grow further (+50 MB seen): the bounds leave that headroom.
    expect(first.peakMb).toBeLessThan(200);
    expect(again.peakMb).toBeLessThan(180);
    await rm(root, { recursive: true, force: true }); // 60,000 entries: within the test's time, not the hook's
  }, 240_000);

  // Seen: 300,000 files downloaded with a 727 MB peak, most of it garbage V8 had not collected yet (59 MB live at
  // 100,000 files). Measured for 60,000 files before / after the lean heap: Node 20 266 / 172 MB, Node 22 302 /
  // 192 MB, Node 24 355 / 291 MB (its young generation is larger, and it is most of what remains there).
  it("downloads 60,000 tiny files over HTTP with the heap kept near what is live", async () => {
    const count = 60_000;
    const repo = makeRepo({ id: "acme/many", files: Array.from({ length: count }, (_, i) => ({ path: `shards/${Math.floor(i / 1000)}/${i}.json`, text: `{"i":${i}}\n` })) });
    const h = await hub({ repos: [repo], pageSize: 1000 });
    const root = await tempDir();
    const done = await run(["acme/many", "--root", root], { HF_ENDPOINT: h.url });
    expect(done).toMatchObject({ status: "downloaded", files: count });
    const major = Number(process.versions.node.split(".")[0]);
    expect(done.peakMb).toBeLessThan(major >= 24 ? 330 : 240);
    await rm(root, { recursive: true, force: true });
  }, 300_000);
});
