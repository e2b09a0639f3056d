import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { openSync, writeSync, closeSync } from "node:fs";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { corruptFile, makeRepo } from "@download-models/local-hub";
import { RangeSet, splitRanges } from "../../src/transfer/ranges.ts";
import { HashPool } from "../../src/transfer/hash-pool.ts";
import { digestProblem } from "../../src/transfer/verify.ts";
import { download, hfModel, hub } from "../helpers/hub.ts";
import { createTransfer } from "../../src/transfer/index.ts";
import { bootId, partialBytes, readState, writeState } from "../../src/transfer/state.ts";
import { PositionalWriter, WriteBudget } from "../../src/transfer/positional-writer.ts";
import { truncate, writeFile } from "node:fs/promises";
import { tempDir } from "../helpers/tmp.ts";
import { VerifyReadError } from "../../src/errors.ts";

const MiB = 1024 * 1024;
const fast = { rangeThreshold: 2 * MiB, chunkSize: 1 * MiB, connections: 8, attempts: 4, baseDelayMs: 5 };
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("chunk arithmetic", () => {
  it("merges ranges, finds the contiguous prefix and the gaps", () => {
    const r = new RangeSet([[10, 20], [0, 5], [5, 8], [19, 30]]);
    expect(r.ranges).toEqual([[0, 8], [10, 30]]);
    expect(r.total).toBe(28);
    expect(r.prefixEnd()).toBe(8);
    expect(r.gaps(40)).toEqual([[8, 10], [30, 40]]);
    expect(new RangeSet().gaps(5)).toEqual([[0, 5]]);
    expect(new RangeSet([[3, 5]]).prefixEnd()).toBe(0);
    r.add(8, 10);
    expect(r.ranges).toEqual([[0, 30]]);
  });

  it("splits gaps into chunks in file order, never across a gap", () => {
    expect(splitRanges([[0, 10], [20, 25]], 4)).toEqual([[0, 4], [4, 8], [8, 10], [20, 24], [24, 25]]);
    expect(splitRanges([], 4)).toEqual([]);
  });

  it("hashes a file written out of order by reading back the contiguous prefix (worker thread)", async () => {
    const dir = await tempDir();
    const data = Buffer.alloc(5 * MiB + 123);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >> 9)) & 0xff;
    const fd = openSync(join(dir, "f"), "w+");
    const pool = new HashPool();
    const job = pool.start({ fd, algorithm: "sha256", label: "f" });
    const done = new RangeSet();
    const pieces = splitRanges([[0, data.length]], 700_000);
    // the second half lands first: nothing can be hashed until the first half is there
    for (const [s, e] of [...pieces.slice(4), ...pieces.slice(0, 4)]) {
      writeSync(fd, data, s, e - s, s);
      done.add(s, e);
      job.advance(done.prefixEnd());
    }
    const { digest, bytes } = await job.finish(data.length);
    job.drop();
    await pool.close();
    closeSync(fd);
    expect(bytes).toBe(data.length);
    expect(digest).toBe(sha256(data));
    expect(digestProblem({ path: "f", size: data.length, sha256: sha256(data), url: "http://x" }, digest, bytes)).toBeUndefined();
  });

  it("a file shorter than was written fails verification with an error naming the file, not a bare Error", async () => {
    const dir = await tempDir();
    const fd = openSync(join(dir, "f"), "w+");
    writeSync(fd, Buffer.alloc(1000, 7), 0, 1000, 0);
    const pool = new HashPool();
    const job = pool.start({ fd, algorithm: "sha256", label: "model.safetensors of acme/m@main" });
    const failed = await job.finish(5000).catch((e: unknown) => e);
    await pool.close();
    closeSync(fd);
    expect(failed).toBeInstanceOf(VerifyReadError);
    expect((failed as Error).message).toMatch(/^model\.safetensors of acme\/m@main: reading the written bytes back .*short read at 1000/);
  });

  it("a hashing thread that is gone fails the verification at once, instead of leaving the download waiting forever", async () => {
    const dir = await tempDir();
    const fd = openSync(join(dir, "f"), "w+");
    writeSync(fd, Buffer.alloc(1000, 7), 0, 1000, 0);
    const pool = new HashPool();
    const job = pool.start({ fd, algorithm: "sha256", label: "model.safetensors of acme/m@main" });
    job.advance(1000);
    await pool.close(); // the thread is gone (as after a crash of it) before the file asks for its result
    const failed = await Promise.race([job.finish(1000).catch((e: unknown) => e), new Promise((r) => setTimeout(() => r("still waiting"), 2000))]);
    closeSync(fd);
    expect(failed).toBeInstanceOf(VerifyReadError);
    expect((failed as Error).message).toMatch(/^model\.safetensors of acme\/m@main: reading the written bytes back to verify them failed \(the hashing threads were closed\)/);
    // A new job after that gets a working thread.
    const reopened = openSync(join(dir, "f"), "r");
    const again = pool.start({ fd: reopened, algorithm: "sha256", label: "f" });
    expect((await again.finish(1000)).bytes).toBe(1000);
    await pool.close();
    closeSync(reopened);
  });
});

describe("write budget", () => {
  it("pauses producers past the limit across files and resumes them once half has drained", () => {
    const budget = new WriteBudget(100);
    budget.take(60);
    expect(budget.hasRoom()).toBe(true);
    budget.take(50); // another file
    expect(budget.hasRoom()).toBe(false);
    const resumed: string[] = [];
    budget.whenRoom(() => resumed.push("a"));
    budget.whenRoom(() => resumed.push("b"));
    budget.give(50);
    expect(resumed).toEqual([]); // 60 in flight: above half
    budget.give(20);
    expect(resumed).toEqual(["a", "b"]);
    expect(budget.hasRoom()).toBe(true);
  });

  it("a writer reports a range as written only after its write returned", async () => {
    const dir = await tempDir();
    const fd = openSync(join(dir, "w"), "w+");
    const written: Array<[number, number]> = [];
    const writer = new PositionalWriter(fd, new WriteBudget(1 << 20), (s, e) => written.push([s, e]), "w");
    writer.write(Buffer.alloc(10, 1), 100);
    writer.write(Buffer.alloc(5, 2), 0);
    expect(written).toEqual([]);
    await writer.drained();
    closeSync(fd);
    expect(written.sort((a, b) => a[0] - b[0])).toEqual([[0, 5], [100, 110]]);
    expect((await readFile(join(dir, "w"))).length).toBe(110);
  });

  it("a finished stream waits for its own writes only, not for bytes another stream still gathers", async () => {
    const dir = await tempDir();
    const fd = openSync(join(dir, "w"), "w+");
    const written: Array<[number, number]> = [];
    const writer = new PositionalWriter(fd, new WriteBudget(1 << 20), (s, e) => written.push([s, e]), "w");
    const slow = writer.stream(1000); // a slow connection: one piece held until more arrives
    slow.push(Buffer.alloc(10, 3));
    const fast = writer.stream(0);
    fast.push(Buffer.alloc(100, 1));
    fast.done();
    // Waiting on the whole file would hang here until the slow stream's next piece arrives.
    await fast.drained();
    expect(written).toEqual([[0, 100]]);
    slow.done();
    await slow.drained();
    await writer.drained();
    closeSync(fd);
    expect(written).toEqual([[0, 100], [1000, 1010]]);
  });
});

describe("resume record", () => {
  it("trusts written-but-unflushed ranges only on the machine that wrote them, before it restarts", async () => {
    const temp = join(await tempDir(), "f.incomplete");
    // 1 MiB flushed (survives a power cut), 4 MiB written (in the page cache: survives a kill -9, not a reboot)
    await writeState(temp, { identity: "sha", size: 8 * MiB, done: [[0, 1 * MiB]], written: [[0, 4 * MiB]] });
    const state = (await readState(temp))!;
    expect(state.done).toEqual([[0, 1 * MiB]]);
    if (bootId() === undefined) return; // no boot id (not Linux): only flushed ranges are ever recorded
    expect(await partialBytes(temp, 8 * MiB)).toBe(4 * MiB);
    // The same record read after a reboot, or on another pod of a shared volume: only what was flushed counts.
    await writeFile(`${temp}.json`, JSON.stringify({ ...state, boot: "another-boot" }));
    expect(await partialBytes(temp, 8 * MiB)).toBe(1 * MiB);
  });
});

describe("transfer engine against the local hub", () => {
  const big = () => makeRepo({ id: "acme/big", files: [{ path: "model.safetensors", size: 12 * MiB + 7 }, { path: "config.json", text: "{}\n" }] });

  it("fetches a big file as parallel Range chunks that cover it exactly once, and verifies it", async () => {
    const r = big();
    const h = await hub({ repos: [r] });
    const root = await tempDir();
    const s = await download(h, root, [hfModel("acme/big")], { transfer: fast });
    expect(s.failed).toBe(0);
    const gets = h.requests.filter((q) => q.server === "cdn" && q.method === "GET");
    expect(gets.length).toBe(13);
    const covered = new RangeSet();
    for (const q of gets) {
      const [, a, b] = q.range!.match(/^bytes=(\d+)-(\d+)$/)!;
      covered.add(Number(a), Number(b) + 1);
    }
    expect(covered.ranges).toEqual([[0, 12 * MiB + 7]]);
    expect(gets.reduce((n, q) => n + (Number(q.range!.split("-")[1]) - Number(q.range!.split("=")[1]!.split("-")[0]) + 1), 0)).toBe(12 * MiB + 7);
    const blob = join(root, "huggingface", "hub", "models--acme--big", "blobs", r.commits[0]!.files[0]!.sha256);
    expect(sha256(await readFile(blob))).toBe(r.commits[0]!.files[0]!.sha256);
    const progress = s.events.filter((e) => e.type === "file-progress" && e.path === "model.safetensors");
    expect(progress.reduce((n, e) => n + ("delta" in e ? e.delta : 0), 0)).toBe(12 * MiB + 7);
    // chunks after the first go straight to the CDN URL the first one was redirected to
    expect(h.requests.filter((q) => q.server === "hub" && q.path.endsWith("/model.safetensors")).length).toBe(1);
  });

  it("falls back to one stream when the server ignores Range", async () => {
    const r = big();
    const h = await hub({
      repos: [r],
      intercept(req) {
        if (req.headers.range) delete req.headers.range; // a server without Range support answers 200
        return false;
      },
    });
    const s = await download(h, await tempDir(), [hfModel("acme/big")], { transfer: fast });
    expect(s.failed).toBe(0);
    expect(h.requests.filter((q) => q.server === "cdn" && q.method === "GET")).toHaveLength(1);
    expect(s.models[0]!.downloadedBytes).toBe(12 * MiB + 7 + 3);
  });

  it("retries injected faults per chunk (resets, 500s, truncated bodies) and still verifies", async () => {
    const r = big();
    // every chunk fails three ways before it is served: 500, a reset connection, a body cut short
    const tries = new Map<string, number>();
    const h = await hub({
      repos: [r],
      intercept(req, res, server) {
        if (server !== "cdn" || !req.headers.range) return false;
        const start = req.headers.range.split("-")[0]!;
        const n = (tries.get(start) ?? 0) + 1;
        tries.set(start, n);
        if (n === 1) {
          res.writeHead(500).end();
          return true;
        }
        if (n === 2) {
          req.socket.destroy();
          return true;
        }
        if (n === 3) {
          // headers promise the chunk, the body is cut after a few bytes
          const [, a, b] = req.headers.range.match(/bytes=(\d+)-(\d+)/)!;
          const f = r.commits[0]!.files[0]!;
          res.writeHead(206, { "content-length": String(Number(b) - Number(a) + 1), "content-range": `bytes ${a}-${b}/${f.size}` });
          const part = f.read(Number(a), Number(a) + 1000);
          part.pipe(res, { end: false });
          part.on("end", () => res.destroy());
          return true;
        }
        return false;
      },
    });
    const s = await download(h, await tempDir(), [hfModel("acme/big")], { transfer: fast });
    expect(s.models[0]!.error).toBeUndefined();
    expect(s.events.filter((e) => e.type === "file-retry").length).toBeGreaterThanOrEqual(3 * 13);
  });

  it("detects a stalled connection and retries it", async () => {
    const r = big();
    let stalled = 0;
    const h = await hub({
      repos: [r],
      intercept(req, res, server) {
        if (server !== "cdn" || stalled > 0) return false;
        stalled++;
        res.writeHead(206, { "content-length": "1048576", "content-range": `bytes 0-1048575/${12 * MiB + 7}` });
        r.commits[0]!.files[0]!.read(0, 10).pipe(res, { end: false }); // 10 good bytes, then nothing, connection left open
        return true;
      },
    });
    const s = await download(h, await tempDir(), [hfModel("acme/big")], { transfer: { ...fast, stallMs: 300 } });
    expect(s.models[0]!.error).toBeUndefined();
    const retry = s.events.find((e) => e.type === "file-retry");
    expect(retry && "reason" in retry && retry.reason).toMatch(/no data for 0 s \(stalled\)/);
  });

  it("goes back through the hub when the signed CDN URL expires", async () => {
    const r = big();
    let expired = 0;
    const h = await hub({
      repos: [r],
      intercept(req, res, server) {
        // the first CDN URL stops working after its first request
        if (server === "cdn" && req.headers.range && !req.headers.range.startsWith("bytes=0-") && expired < 1) {
          expired++;
          res.writeHead(403).end("Request has expired");
          return true;
        }
        return false;
      },
    });
    const s = await download(h, await tempDir(), [hfModel("acme/big")], { transfer: { ...fast, connections: 1 } });
    expect(s.models[0]!.error).toBeUndefined();
    expect(h.requests.filter((q) => q.server === "hub" && q.path.endsWith("/model.safetensors")).length).toBe(2);
  });

  it("leaves no partial file under its final name when a chunk keeps failing; keeps the bytes for resume", async () => {
    const r = big();
    const h = await hub({
      repos: [r],
      intercept(req, res, server) {
        if (server === "cdn" && req.headers.range?.startsWith("bytes=5242880-")) {
          res.writeHead(503).end();
          return true;
        }
        return false;
      },
    });
    const root = await tempDir();
    const s = await download(h, root, [hfModel("acme/big")], { transfer: { ...fast, checkpointMs: 10 } });
    expect(s.models[0]!.error).toMatch(/^HuggingFace answered 503 for model\.safetensors of acme\/big@main .*\(gave up after 4 attempts\)$/);
    const blobs = await readdir(join(root, "huggingface", "hub", "models--acme--big", "blobs"));
    const sha = r.commits[0]!.files[0]!.sha256;
    expect(blobs).not.toContain(sha);
    expect(blobs).toContain(`${sha}.incomplete`);
    expect(blobs).toContain(`${sha}.incomplete.json`);

    // the next run fetches only the missing bytes
    const h2 = await hub({ repos: [r] });
    h2.resetStats();
    const again = await download(h2, root, [hfModel("acme/big")], { transfer: fast });
    expect(again.models[0]!.error).toBeUndefined();
    expect(again.events.some((e) => e.type === "file-resume")).toBe(true);
    expect(h2.bytesServed).toBeLessThan(12 * MiB);
    expect(await readdir(join(root, "huggingface", "hub", "models--acme--big", "blobs"))).not.toContain(`${sha}.incomplete.json`);
  });

  it("catches a flipped byte in a chunked file (hashed on the worker thread), retries once, then fails cleanly", async () => {
    const r = big();
    const f = r.commits[0]!.files[0]!;
    r.commits[0]!.files[0] = corruptFile(f, 9 * MiB + 3);
    const h = await hub({ repos: [r] });
    const root = await tempDir();
    const s = await download(h, root, [hfModel("acme/big")], { transfer: fast });
    expect(s.models[0]!.error).toMatch(/model\.safetensors of acme\/big@main: the downloaded bytes do not match the hub's listing \(sha256 [0-9a-f]{64}, expected [0-9a-f]{64}\), twice/);
    const blobs = await readdir(join(root, "huggingface", "hub", "models--acme--big", "blobs"));
    expect(blobs.filter((b) => b.startsWith(f.sha256))).toEqual([]); // no final name, no partial, no range record
    expect(h.bytesServed).toBeGreaterThanOrEqual(2 * f.size);
  });

  it("does not resume a partial file recorded for other content (same path, new hash): it starts over", async () => {
    const r = big();
    const f = r.commits[0]!.files[0]!;
    const h = await hub({ repos: [r] });
    const dir = await tempDir();
    const temp = join(dir, "model.safetensors.incomplete");
    await writeFile(temp, "");
    await truncate(temp, f.size);
    await writeState(temp, { identity: "0".repeat(64), size: f.size, done: [[0, 6 * MiB]] }); // written for another version of the file
    const transfer = createTransfer(fast);
    let resumed = 0;
    await transfer.fetch({
      file: { path: f.path, size: f.size, sha256: f.sha256, url: `${h.cdnUrl}/cdn/${f.sha256}` },
      temp, dest: join(dir, "model.safetensors"), root: dir, label: "model.safetensors", isDone: async () => false,
      onEvent: (e) => e.type === "resume" && (resumed += e.bytes),
    });
    await transfer.close();
    expect(resumed).toBe(0);
    expect(h.bytesServed).toBe(f.size);
    expect(sha256(await readFile(join(dir, "model.safetensors")))).toBe(f.sha256);
  });
});
