import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { makeRepo } from "@download-models/local-hub";
import { isSlowEdge, steal, type Span } from "../../src/transfer/span.ts";
import { download, hfModel, hub } from "../helpers/hub.ts";
import { tempDir } from "../helpers/tmp.ts";

const MiB = 1024 * 1024;
const MB = 1_000_000;

const span = (s: Pick<Span, "start" | "pos" | "stop" | "bytes" | "since"> & Partial<Span>): Span => ({ lastAt: s.since, firstAt: s.since + 1, ...s });

describe("tails that do not wait on a slow connection", () => {
  it("cuts the slow end of a span where it and a fresh connection finish together", () => {
    const now = 10_000;
    const slow = span({ start: 0, pos: 1 * MiB, stop: 8 * MiB, bytes: 1 * MiB, since: now - 2000 }); // 0.5 MiB/s
    const fast = span({ start: 8 * MiB, pos: 15 * MiB, stop: 16 * MiB, bytes: 7 * MiB, since: now - 1000 }); // 7 MiB/s, nearly done
    const taken = steal({ active: new Set([slow, fast]), bestRate: 5 * MiB }, now);
    expect(taken).toBeDefined();
    const [from, to] = taken!;
    expect(to).toBe(8 * MiB);
    expect(slow.stop).toBe(from); // the victim now ends where the thief begins: no byte twice, none lost
    expect(from).toBeGreaterThan(slow.pos);
    expect(from - slow.pos).toBeLessThan(2 * MiB); // most of the 7 MiB left goes to the fast connection
    expect(fast.stop).toBe(16 * MiB); // a fast span is not cut
  });

  it("leaves alone spans that are as fast as the rest", () => {
    const now = 10_000;
    const a = span({ start: 0, pos: 1 * MiB, stop: 8 * MiB, bytes: 1 * MiB, since: now - 1000 });
    const b = span({ start: 8 * MiB, pos: 9 * MiB, stop: 16 * MiB, bytes: 1 * MiB, since: now - 1000 });
    expect(steal({ active: new Set([a, b]), bestRate: 1.2 * MiB }, now)).toBeUndefined();
    expect([a.stop, b.stop]).toEqual([8 * MiB, 16 * MiB]);
  });

  it("does not judge a request that has not delivered its first bytes yet (the stall watchdog's business)", () => {
    const now = 10_000;
    const waiting = span({ start: 0, pos: 0, stop: 8 * MiB, bytes: 0, since: now - 2000 });
    expect(steal({ active: new Set([waiting]), bestRate: 5 * MiB }, now)).toBeUndefined();
    expect(waiting.stop).toBe(8 * MiB);
  });

  it("judges a connection a slow edge only when it is many times slower for a while, warm, and has enough left to move", () => {
    const now = 10_000;
    const fast = span({ start: 0, pos: 4 * MiB, stop: 8 * MiB, bytes: 4 * MiB, since: now - 500 }); // 8 MiB/s
    const slowSpan = () => span({ start: 8 * MiB, pos: 8.25 * MiB, stop: 16 * MiB, bytes: 0.25 * MiB, since: now - 500 }); // 0.5 MiB/s
    const field = { active: new Set([fast]), bestRate: 0 };
    const slow = slowSpan();
    expect(isSlowEdge(field, slow, now)).toBe(false); // slow once: a starved event loop may read sockets unevenly
    expect(isSlowEdge(field, slow, now + 50)).toBe(false);
    expect(isSlowEdge(field, slow, now + 100)).toBe(true); // still slow 100 ms later: an edge
    expect(isSlowEdge(field, fast, now + 100)).toBe(false);
    const judge = (f: typeof field & { roundTripMs?: number; writesFullAt?: number }, s: Span) => (isSlowEdge(f, s, now), isSlowEdge(f, s, now + 100));
    // as slow, but on a link where the fastest first byte took 100 ms: ten round trips (1 s) of slow start are not over
    expect(judge({ ...field, roundTripMs: 100 }, { ...slowSpan(), firstAt: now - 400 })).toBe(false);
    expect(judge({ ...field, roundTripMs: 30 }, { ...slowSpan(), firstAt: now - 400 })).toBe(true);
    // while the write budget ran out within the last 100 ms, our own writes set the rates: no verdict
    expect(judge({ ...field, writesFullAt: now + 50 }, slowSpan())).toBe(false);
    expect(judge({ ...field, writesFullAt: now - 200 }, slowSpan())).toBe(true);
    // too new to judge
    expect(judge(field, { ...slowSpan(), since: now - 30, firstAt: now - 29 })).toBe(false);
    // less than 1 MiB left: not worth a new connection
    expect(judge(field, { ...slowSpan(), stop: 8.25 * MiB + 512 * 1024 })).toBe(false);
    // three times slower than the best is a busy machine, not a slow edge
    const busy = span({ start: 16 * MiB, pos: 17 * MiB, stop: 24 * MiB, bytes: (8 / 3) * 0.5 * MiB, since: now - 500 });
    expect(judge(field, busy)).toBe(false);
  });

  it("closes connections that landed on slow edges and asks again, keeping every byte", { timeout: 60_000 }, async () => {
    const r = makeRepo({ id: "acme/edges", files: [{ path: "model.safetensors", size: 32 * MiB }] });
    // half of the connections (every other one) are slow edges at 1/40 of the fast ones' rate
    const h = await hub({ repos: [r], bandwidthPerConnection: 8 * MB, slowConnectionShare: 0.5, slowBandwidthPerConnection: 0.2 * MB });
    const root = await tempDir();
    const s = await download(h, root, [hfModel("acme/edges")], { transfer: { rangeThreshold: 2 * MiB, chunkSize: 4 * MiB, connections: 4 } });
    expect(s.failed).toBe(0);
    const slow = h.connectionLog.filter((c) => c.slow);
    expect(slow.length).toBeGreaterThan(0);
    // Kept open, a slow edge carries its chunk's head until stealing cuts it (a second at least), then the next chunk
    // it is given: closed after its first few hundred milliseconds (two seconds at most on a busy machine), each
    // carries a small part.
    for (const c of slow) expect(c.bytes).toBeLessThan(400_000);
    expect(h.connectionLog.length).toBeGreaterThan(4); // more connections than the 4 allowed at once: some were replaced
    const f = r.commits[0]!.files[0]!;
    const blob = join(root, "huggingface", "hub", "models--acme--edges", "blobs", f.sha256!);
    expect(createHash("sha256").update(await readFile(blob)).digest("hex")).toBe(f.sha256);
  });

  it("asks a small file that landed on a slow edge again from its next byte, on a new connection", { timeout: 60_000 }, async () => {
    const files = Array.from({ length: 4 }, (_, i) => ({ path: `tokenizer-${i}.json`, size: 3 * MiB, seed: `t${i}` }));
    const r = makeRepo({ id: "acme/small-edges", files });
    // every other connection is a slow edge at 1/40 of the fast ones' rate: a 3 MiB file on one would take 15 s
    const h = await hub({ repos: [r], bandwidthPerConnection: 8 * MB, slowConnectionShare: 0.5, slowBandwidthPerConnection: 0.2 * MB });
    const root = await tempDir();
    const t0 = performance.now();
    const s = await download(h, root, [hfModel("acme/small-edges")], { transfer: { rangeThreshold: 64 * MiB, connections: 4 } });
    const seconds = (performance.now() - t0) / 1000;
    expect(s.failed).toBe(0);
    const slow = h.connectionLog.filter((c) => c.slow);
    expect(slow.length).toBeGreaterThan(0);
    for (const c of slow) expect(c.bytes).toBeLessThan(400_000); // closed early, as the chunks of a big file are
    // files went on where they stopped: a Range request from a byte inside them
    expect(h.requests.some((q) => /^bytes=[1-9]\d*-$/.test(q.range ?? "") || /^bytes=[1-9]\d*-\d+$/.test(q.range ?? ""))).toBe(true);
    expect(seconds).toBeLessThan(10);
    for (const f of r.commits[0]!.files) {
      const blob = join(root, "huggingface", "hub", "models--acme--small-edges", "blobs", f.sha256!);
      expect(createHash("sha256").update(await readFile(blob)).digest("hex")).toBe(f.sha256);
    }
  });

  it("ends a file when its last request ends, not when an idle connection next looks for work", { timeout: 60_000 }, async () => {
    const r = makeRepo({ id: "acme/idle", files: [{ path: "model.safetensors", size: 4 * MiB }] });
    const h = await hub({ repos: [r], bandwidthPerConnection: 4 * MB });
    const root = await tempDir();
    const t0 = performance.now();
    // Two chunks on two connections: the one that ends first has nothing left to take over and waits; an hour
    // between its looks for work means the file ends only if the other request's end wakes it.
    const transfer = { rangeThreshold: 2 * MiB, chunkSize: 2 * MiB, connections: 2, idlePollMs: 3_600_000 };
    const s = await download(h, root, [hfModel("acme/idle")], { transfer });
    const seconds = (performance.now() - t0) / 1000;
    expect(s.failed).toBe(0);
    expect(h.requests.filter((q) => q.range).length).toBeGreaterThanOrEqual(2); // the chunks went as requests of their own
    expect(seconds).toBeLessThan(20);
    const f = r.commits[0]!.files[0]!;
    const blob = join(root, "huggingface", "hub", "models--acme--idle", "blobs", f.sha256!);
    expect(createHash("sha256").update(await readFile(blob)).digest("hex")).toBe(f.sha256);
  });

  it("re-issues the remainder of a chunk stuck on a slow connection on an idle one", { timeout: 60_000 }, async () => {
    const r = makeRepo({ id: "acme/uneven", files: [{ path: "model.safetensors", size: 24 * MiB }] });
    // connection index 3 of every 4 is slow: its 4 MiB chunk alone would take ~21 s
    const h = await hub({ repos: [r], bandwidthPerConnection: 8 * MB, slowConnectionShare: 0.25, slowBandwidthPerConnection: 0.2 * MB });
    const root = await tempDir();
    const t0 = performance.now();
    const s = await download(h, root, [hfModel("acme/uneven")], { transfer: { rangeThreshold: 2 * MiB, chunkSize: 4 * MiB, connections: 4 } });
    const seconds = (performance.now() - t0) / 1000;
    expect(s.failed).toBe(0);
    expect(h.connectionStats.slowConnections).toBeGreaterThan(0);
    const starts = h.requests.map((q) => q.range?.match(/^bytes=(\d+)-/)?.[1]).filter((v) => v !== undefined).map(Number);
    // a range that starts inside a chunk is a remainder taken over
    expect(starts.some((st) => st % (4 * MiB) !== 0)).toBe(true);
    expect(seconds).toBeLessThan(12);
    const f = r.commits[0]!.files[0]!;
    const blob = join(root, "huggingface", "hub", "models--acme--uneven", "blobs", f.sha256!);
    expect(createHash("sha256").update(await readFile(blob)).digest("hex")).toBe(f.sha256);
  });
});

describe("maxRate", () => {
  it("holds the whole run near the cap across every connection", { timeout: 60_000 }, async () => {
    const r = makeRepo({
      id: "acme/capped",
      files: [{ path: "model.safetensors", size: 9 * MiB }, ...Array.from({ length: 6 }, (_, i) => ({ path: `part-${i}.bin`, size: 500_000 }))],
    });
    const h = await hub({ repos: [r] });
    const total = r.commits[0]!.files.reduce((n, f) => n + f.size, 0);
    const cap = 4 * MB;
    const t0 = performance.now();
    const s = await download(h, await tempDir(), [hfModel("acme/capped")], { transfer: { rangeThreshold: 2 * MiB, chunkSize: 1 * MiB, connections: 8, maxRate: cap } });
    const rate = total / ((performance.now() - t0) / 1000);
    expect(s.failed).toBe(0);
    // uncapped this takes well under a second; capped, about 3 s
    expect(rate).toBeLessThan(cap * 1.25);
    expect(rate).toBeGreaterThan(cap * 0.5);
  });
});
