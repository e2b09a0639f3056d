import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { makeRepo } from "@download-models/local-hub";
import { createTransfer } from "../../src/transfer/index.ts";
import { hub } from "../helpers/hub.ts";
import { runCli, startCli } from "../helpers/cli.ts";
import { tempDir } from "../helpers/tmp.ts";

const MB = 1_000_000;
const repo = () =>
  makeRepo({ id: "acme/many", files: Array.from({ length: 40 }, (_, i) => ({ path: `tok/part-${i}.json`, size: 100_000 + i, lfs: false })) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every name seen in `dir` while `running` is pending. */
async function watch(dir: string, running: Promise<unknown>): Promise<Set<string>> {
  const seen = new Set<string>();
  let done = false;
  void running.finally(() => (done = true));
  while (!done) {
    for (const n of await readdir(dir).catch((): string[] => [])) seen.add(n);
    await sleep(10);
  }
  return seen;
}

async function verifyAll(root: string, r: ReturnType<typeof repo>): Promise<void> {
  const snap = join(root, "huggingface", "hub", "models--acme--many", "snapshots", r.refs.main!);
  for (const f of r.commits[0]!.files) expect(createHash("sha256").update(await readFile(join(snap, f.path))).digest("hex")).toBe(f.sha256);
}

describe("one claim per directory instead of a lock file per small file", () => {
  it("a second process waits on the first one's claim and fetches nothing twice; no per-file lock is ever made", { timeout: 90_000 }, async () => {
    const r = repo();
    const total = r.commits[0]!.files.reduce((n, f) => n + f.size, 0);
    const h = await hub({ repos: [r], bandwidthPerConnection: 0.25 * MB });
    const root = await tempDir();
    const blobs = join(root, "huggingface", "hub", "models--acme--many", "blobs");
    const env = { HF_ENDPOINT: h.url };
    const first = runCli(["acme/many", "--root", root, "--quiet", "--concurrency", "4"], env);
    for (let i = 0; i < 500 && !(await readdir(blobs).catch((): string[] => [])).includes(".claim.lock"); i++) await sleep(10);
    const second = runCli(["acme/many", "--root", root, "--json", "--concurrency", "4"], env);
    const seen = await watch(blobs, Promise.all([first, second]));
    const [a, b] = await Promise.all([first, second]);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(seen.has(".claim.lock")).toBe(true);
    expect([...seen].filter((n) => n.endsWith(".incomplete.lock"))).toEqual([]);
    expect(b.stdout).toContain('"file-wait"');
    expect(h.bytesServed).toBeLessThanOrEqual(total * 1.1);
    expect((await readdir(blobs)).filter((n) => n.includes("."))).toEqual([]); // claim released, nothing left
    await verifyAll(root, r);
  });

  it("a claim whose holder was killed is taken over, and the model completes", { timeout: 90_000 }, async () => {
    const r = repo();
    const h = await hub({ repos: [r], bandwidthPerConnection: 0.25 * MB });
    const root = await tempDir();
    const blobs = join(root, "huggingface", "hub", "models--acme--many", "blobs");
    const env = { HF_ENDPOINT: h.url };
    const first = startCli(["acme/many", "--root", root, "--quiet", "--concurrency", "4"], env);
    const exited = new Promise((done) => first.on("exit", done));
    for (let i = 0; i < 500 && !(await readdir(blobs).catch((): string[] => [])).includes(".claim.lock"); i++) await sleep(10);
    await sleep(300);
    first.kill("SIGKILL");
    await exited;
    expect(await readdir(blobs)).toContain(".claim.lock"); // left behind by the dead holder
    const again = await runCli(["acme/many", "--root", root, "--quiet"], env);
    expect(again.code).toBe(0);
    await verifyAll(root, r);
    expect((await readdir(blobs)).filter((n) => n.includes("."))).toEqual([]);
  });
});

describe("the barrier before the manifest", () => {
  it("a small file is in place before its flush is awaited, and `durable` reports a failed flush", async () => {
    const r = makeRepo({ id: "acme/one", files: [{ path: "config.json", text: "{}\n" }] });
    const h = await hub({ repos: [r] });
    const root = await tempDir();
    const f = r.commits[0]!.files[0]!;
    const transfer = createTransfer({ attempts: 2, baseDelayMs: 5 });
    try {
      const dest = join(root, "blob");
      const url = `${h.url}/acme/one/resolve/${r.refs.main}/config.json`;
      const file = { path: "config.json", size: f.size, sha256: f.sha256, url };
      // The flush is registered when the file is renamed into place and removes itself once done, which on a quiet
      // disk can be before fetch() returns: watch it being registered rather than catch it still running.
      const registered: string[] = [];
      const set = transfer.flushes.set.bind(transfer.flushes);
      transfer.flushes.set = (key, value) => (registered.push(key), set(key, value));
      await transfer.fetch({ file, temp: `${dest}.incomplete`, dest, root, label: "config.json", isDone: async () => false });
      expect(await readFile(dest, "utf8")).toBe("{}\n");
      expect(registered).toEqual([dest]); // the flush runs behind the next file, not before it
      await transfer.durable([dest]);
      expect(transfer.flushes.has(dest)).toBe(false);
      transfer.flushes.set(dest, Promise.reject(new Error("EIO: flush failed")));
      await expect(transfer.durable([dest])).rejects.toThrow(/EIO/);
    } finally {
      await transfer.close();
    }
  });
});
