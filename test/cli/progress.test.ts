import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { makeRepo } from "@download-models/local-hub";
import { Progress } from "../../src/cli/progress.ts";
import { createReporter } from "../../src/cli/reporter.ts";
import { createUploadReporter } from "../../src/cli/upload-reporter.ts";
import type { DownloadEvent } from "../../src/download/events.ts";
import { uploadFile } from "../../src/remote/upload.ts";
import { download, hfModel, hub } from "../helpers/hub.ts";
import { connection, dataFile, localS3, MiB, uploadContext } from "../helpers/s3.ts";
import { tempDir } from "../helpers/tmp.ts";

const model = hfModel("acme/x");

/** A clock the test moves by hand, so speed and ETA are exact. */
function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe("the progress record (events in, totals out)", () => {
  it("folds a real download's events: what was to move, what moved, no file left in flight", { timeout: 60_000 }, async () => {
    const repo = makeRepo({ id: "acme/x", files: [{ path: "big.bin", size: 3_000_000 }, { path: "small.json", size: 2000 }] });
    const h = await hub({ repos: [repo] });
    const run = await download(h, await tempDir(), [model]);
    expect(run.downloaded).toBe(1);
    const progress = new Progress();
    const midway: number[] = [];
    for (const e of run.events) {
      progress.download(e);
      if (e.type === "file-progress") {
        expect(progress.active.has(`acme/x/${e.path}`)).toBe(true);
        midway.push(progress.done);
      }
    }
    expect(progress.total).toBe(3_002_000);
    expect(progress.done).toBe(3_002_000);
    expect(midway.length).toBeGreaterThan(1);
    expect(midway.every((done, i) => done <= progress.total && (i === 0 || done >= midway[i - 1]!))).toBe(true);
    expect(progress.active.size).toBe(0);
    expect(progress.waiting.size).toBe(0);
    expect(progress.percent()).toBe(100);
    expect(progress.eta()).toBe("-");
  });

  it("speed and ETA from the bytes of this run; a resumed file's bytes on disk are not left to fetch", () => {
    const c = clock();
    const p = new Progress(c.now);
    p.download({ type: "model-resolved", model, commit: "c".repeat(40), files: 1, bytes: 4_000_000, missingBytes: 4_000_000 });
    p.download({ type: "file-start", model, path: "w.bin", size: 4_000_000 });
    p.download({ type: "file-resume", model, path: "w.bin", bytes: 1_000_000, size: 4_000_000 });
    expect(p.total).toBe(3_000_000);
    c.advance(2000);
    p.download({ type: "file-progress", model, path: "w.bin", bytes: 2_000_000, size: 4_000_000, delta: 1_000_000 });
    expect(p.active.get("acme/x/w.bin")).toEqual({ bytes: 2_000_000, size: 4_000_000 });
    expect(p.speed()).toBe("500 kB/s");
    expect(p.eta()).toBe("4.0 s"); // 2 MB left at 500 kB/s
    expect(p.percent()).toBe(33);
  });

  it("keeps what each model waits for, from when, until the model moves", () => {
    const c = clock();
    const p = new Progress(c.now);
    const waits: DownloadEvent[] = [
      { type: "model-resolving", model },
      { type: "model-wait", model, reason: "rate limited by the hub", delayMs: 1000, attempt: 2, attempts: 4 },
      { type: "model-resolving", model: hfModel("acme/y") },
    ];
    for (const e of waits) {
      p.download(e);
      c.advance(1500);
    }
    expect(p.waitingText()).toBe("acme/x@main (rate limited by the hub; retry 2 of 4, 4.5 s); acme/y@main (asking the hub, 1.5 s)");
    expect(p.waitingText(1)).toBe("acme/x@main (rate limited by the hub; retry 2 of 4, 4.5 s) and 1 more");
    p.download({ type: "file-start", model, path: "w.bin", size: 10 });
    expect([...p.waiting.keys()]).toEqual(["acme/y@main"]);
  });

  it("every reporter mode reads one record: the one given is the one filled", async () => {
    const io = { out: () => {}, err: () => {}, isTTY: false };
    for (const mode of ["human", "quiet", "json"] as const) {
      const progress = new Progress();
      const r = createReporter(io, mode, { progress, progressEveryMs: 0 });
      r.onEvent({ type: "model-resolved", model, commit: "c".repeat(40), files: 1, bytes: 10, missingBytes: 10 });
      r.onEvent({ type: "file-start", model, path: "w.bin", size: 10 });
      r.onEvent({ type: "file-progress", model, path: "w.bin", bytes: 10, size: 10, delta: 10 });
      await r.finish({ models: [], downloaded: 0, skipped: 0, failed: 0, planned: 0, downloadedBytes: 0, totalBytes: 0, seconds: 0, lockAdded: [], interrupted: 0, relinked: 0 }, { lines: [], vars: {} });
      expect([mode, progress.done, progress.total, progress.active.size]).toEqual([mode, 10, 10, 1]);
    }
  });
});

describe("the upload reporter over the same record", () => {
  it("a real multipart upload's events: the record's totals, and the progress line prints them", { timeout: 60_000 }, async () => {
    const s3 = await localS3();
    const dir = await tempDir();
    const file = await dataFile(dir, "big.bin", 3 * MiB + 100);
    const ctx = uploadContext(connection(s3), join(dir, "state"));
    await uploadFile(ctx, { localPath: file.localPath, key: "models/x/big.bin", size: file.size });
    expect(ctx.events.filter((e) => e.type === "upload-progress").length).toBeGreaterThan(1);

    const out: string[] = [];
    const progress = new Progress();
    const uploads = createUploadReporter({ out: (l) => out.push(l), err: (l) => out.push(l), isTTY: false }, "human", { progressEveryMs: 0, verbose: true, progress });
    for (const e of ctx.events) uploads.onEvent(e);
    expect(uploads.progress).toBe(progress);
    expect(progress.total).toBe(file.size);
    expect(progress.done).toBe(file.size);
    expect(progress.active.size).toBe(0);
    expect(out.filter((l) => l.startsWith("  ... ")).at(-1)).toMatch(/^ {2}\.\.\. 3\.15 MB uploaded, (\S+ \S*B\/s|-)$/);
    expect(out.at(-1)).toBe("  uploaded models/x/big.bin to vol1@EU-RO-1 (3.15 MB)");
  });

  it("a resumed upload counts only what is left to send", () => {
    const p = new Progress();
    p.upload({ type: "upload-start", target: "vol1@EU-RO-1", key: "k", size: 5 * MiB, multipart: true, resumedBytes: 2 * MiB });
    expect(p.total).toBe(3 * MiB);
    expect(p.active.get("vol1@EU-RO-1|k")).toEqual({ bytes: 2 * MiB, size: 5 * MiB });
    p.upload({ type: "upload-progress", target: "vol1@EU-RO-1", key: "k", bytes: 3 * MiB, size: 5 * MiB, delta: MiB });
    expect(p.active.get("vol1@EU-RO-1|k")!.bytes).toBe(3 * MiB);
    expect(p.done).toBe(MiB);
  });
});
