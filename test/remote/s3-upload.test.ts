import { createHash } from "node:crypto";
import { readFile, truncate } from "node:fs/promises";
import pLimit from "p-limit";
import { describe, expect, it } from "vitest";
import { multipartEtag } from "../../src/remote/multipart.ts";
import { uploadFile } from "../../src/remote/upload.ts";
import { VolumeFullError } from "../../src/remote/errors.ts";
import { LocalFileChangedError } from "../../src/errors.ts";
import { RateLimit } from "../../src/transfer/rate.ts";
import { connection, dataFile, localS3, MiB, uploadContext } from "../helpers/s3.ts";
import { tempDir } from "../helpers/tmp.ts";

const md5 = (b: Buffer): string => createHash("md5").update(b).digest("hex");

describe("uploadFile against a local S3 endpoint", () => {
  it("sends a small file as one PUT whose ETag is its MD5, then HEADs it", async () => {
    const s3 = await localS3();
    const dir = await tempDir();
    const file = await dataFile(dir, "config.json", 3000);
    const ctx = uploadContext(connection(s3), `${dir}/state`);
    const done = await uploadFile(ctx, { localPath: file.localPath, key: "models/a/config.json", size: file.size, sha256: file.sha256 });
    expect(done).toMatchObject({ etag: file.md5, etagCheck: "md5", size: 3000, bytesSent: 3000 });
    expect(s3.requests.map((r) => r.operation)).toEqual(["PutObject", "HeadObject"]);
    const stored = s3.store.buckets.get("vol1")!.get("models/a/config.json")!;
    expect(md5(await readFile(stored.path))).toBe(file.md5);
  });

  it("sends a file above DOWNLOAD_MODELS_S3_PART_MB in parts and checks the md5-of-md5s-N ETag", async () => {
    const s3 = await localS3();
    const dir = await tempDir();
    const file = await dataFile(dir, "model.bin", 3 * MiB + 12345);
    const ctx = uploadContext(connection(s3), `${dir}/state`);
    const done = await uploadFile(ctx, { localPath: file.localPath, key: "models/a/model.bin", size: file.size });
    const bytes = await readFile(file.localPath);
    const partMd5s = [0, 1, 2, 3].map((i) => md5(bytes.subarray(i * MiB, Math.min(bytes.length, (i + 1) * MiB))));
    expect(done.etag).toBe(multipartEtag(partMd5s));
    expect(done.etag.endsWith("-4")).toBe(true);
    expect(done.etagCheck).toBe("multipart");
    expect(s3.count("UploadPart")).toBe(4);
    expect(s3.count("CompleteMultipartUpload")).toBe(1);
    const stored = s3.store.buckets.get("vol1")!.get("models/a/model.bin")!;
    expect(md5(await readFile(stored.path))).toBe(file.md5);
    expect(s3.store.uploads.size).toBe(0);
  });

  it("never completes a multipart upload whose file does not match the sha256 it was given", async () => {
    const s3 = await localS3();
    const dir = await tempDir();
    const file = await dataFile(dir, "w.bin", 2 * MiB + 3);
    const ctx = uploadContext(connection(s3), `${dir}/state`);
    await expect(uploadFile(ctx, { localPath: file.localPath, key: "models/w.bin", size: file.size, sha256: "0".repeat(64) })).rejects.toThrow(/does not match its sha256/);
    expect(s3.count("CompleteMultipartUpload")).toBe(0);
    expect(s3.store.buckets.get("vol1")!.has("models/w.bin")).toBe(false);
    expect(s3.store.uploads.size).toBe(0);
  });

  it("names the file and asks for a new run when another process cuts the file short during the upload, completing nothing", async () => {
    const s3 = await localS3();
    const dir = await tempDir();
    const file = await dataFile(dir, "cut.bin", 3 * MiB);
    // One part at a time at 1 MiB/s: the second part is read from disk after the file was cut to its first MiB.
    const ctx = uploadContext(connection(s3), `${dir}/state`, { rate: new RateLimit(MiB), limit: pLimit(1) });
    const upload = uploadFile(ctx, { localPath: file.localPath, key: "models/cut.bin", size: file.size });
    const caught = upload.catch((error: unknown) => error);
    await new Promise((r) => setTimeout(r, 300));
    await truncate(file.localPath, MiB);
    const error = await caught;
    expect(error).toBeInstanceOf(LocalFileChangedError);
    expect((error as Error).message).toMatch(new RegExp(`cut\\.bin ended at byte ${MiB} while it was uploaded .*run the command again`));
    expect(s3.count("CompleteMultipartUpload")).toBe(0);
    expect(s3.store.buckets.get("vol1")!.has("models/cut.bin")).toBe(false);
  });

  it("signs and stores keys with spaces, # and non-ASCII characters byte for byte", async () => {
    const s3 = await localS3();
    const dir = await tempDir();
    const file = await dataFile(dir, "f.txt", 10);
    const ctx = uploadContext(connection(s3), `${dir}/state`);
    const key = "models/modelscope/models/iic/Model___v1/sub dir/a#b+c=ü.txt";
    await uploadFile(ctx, { localPath: file.localPath, key, size: file.size });
    expect([...s3.store.buckets.get("vol1")!.keys()]).toEqual([key]);
  });

  it("retries injected 502 and 520–524 answers and still stores the right bytes", async () => {
    const s3 = await localS3({
      faults: {
        errors: [
          { operation: "UploadPart", status: 502, times: 2 },
          { operation: "UploadPart", status: 524, times: 2 },
          { operation: "CompleteMultipartUpload", status: 522, times: 1 },
          { operation: "PutObject", status: 520, times: 1 },
        ],
      },
    });
    const dir = await tempDir();
    const big = await dataFile(dir, "w.bin", 2 * MiB + 7);
    const small = await dataFile(dir, "c.json", 100);
    const ctx = uploadContext(connection(s3), `${dir}/state`);
    await uploadFile(ctx, { localPath: big.localPath, key: "models/w.bin", size: big.size });
    await uploadFile(ctx, { localPath: small.localPath, key: "models/c.json", size: small.size });
    expect(s3.faults.errors.every((f) => f.times === 0)).toBe(true);
    expect(ctx.events.filter((e) => e.type === "upload-retry").length).toBeGreaterThanOrEqual(3);
    for (const [key, f] of [["models/w.bin", big], ["models/c.json", small]] as const) {
      expect(md5(await readFile(s3.store.buckets.get("vol1")!.get(key)!.path))).toBe(f.md5);
    }
  });

  it("sends a part again when the store's ETag for it is not the MD5 of what was sent", async () => {
    const s3 = await localS3({ faults: { corruptParts: 1 } });
    const dir = await tempDir();
    const file = await dataFile(dir, "w.bin", 2 * MiB + 3);
    const ctx = uploadContext(connection(s3), `${dir}/state`);
    const done = await uploadFile(ctx, { localPath: file.localPath, key: "models/w.bin", size: file.size });
    expect(s3.count("UploadPart")).toBe(4);
    expect(done.etagCheck).toBe("multipart");
    expect(md5(await readFile(s3.store.buckets.get("vol1")!.get("models/w.bin")!.path))).toBe(file.md5);
  });

  it("keeps HEADing while the key answers 404 right after a 200 Complete", async () => {
    const s3 = await localS3({ faults: { headMissesAfterComplete: 2 } });
    const dir = await tempDir();
    const file = await dataFile(dir, "w.bin", 2 * MiB);
    const ctx = uploadContext(connection(s3), `${dir}/state`);
    const done = await uploadFile(ctx, { localPath: file.localPath, key: "models/w.bin", size: file.size });
    expect(done.etagCheck).toBe("multipart");
    const heads = s3.requests.filter((r) => r.operation === "HeadObject").map((r) => r.status);
    expect(heads).toEqual([404, 404, 200]);
  });

  it("fails the file when HEAD still answers 404 after every wait", async () => {
    const s3 = await localS3({ faults: { headMissesAfterComplete: 10 } });
    const dir = await tempDir();
    const file = await dataFile(dir, "w.bin", 2 * MiB);
    const ctx = uploadContext(connection(s3), `${dir}/state`);
    await expect(uploadFile(ctx, { localPath: file.localPath, key: "models/w.bin", size: file.size })).rejects.toThrow(/404 Not Found after 4 checks/);
  });

  it("retries a timed-out CompleteMultipartUpload itself and accepts the upload that completed behind the timeout", async () => {
    const s3 = await localS3({ faults: { completeReplyDelayMs: 400 } });
    const dir = await tempDir();
    const file = await dataFile(dir, "w.bin", 2 * MiB + 1);
    const ctx = uploadContext(connection(s3), `${dir}/state`, { completeTimeoutMs: 150 });
    const done = await uploadFile(ctx, { localPath: file.localPath, key: "models/w.bin", size: file.size });
    expect(done.etagCheck).toBe("multipart");
    const completes = s3.requests.filter((r) => r.operation === "CompleteMultipartUpload");
    expect(completes.length).toBeGreaterThanOrEqual(2);
    expect(completes.at(-1)!.status).toBe(404);
    // Our loop, not the SDK, retried: with the timeout doubled.
    const retries = ctx.events.filter((e) => e.type === "upload-retry");
    expect(retries).toHaveLength(1);
    expect(retries[0]).toMatchObject({ reason: expect.stringMatching(/timeout|timed out/i) });
    expect(md5(await readFile(s3.store.buckets.get("vol1")!.get("models/w.bin")!.path))).toBe(file.md5);
  });

  it("turns 507 into VolumeFullError without retrying it", async () => {
    const s3 = await localS3({ faults: { byteBudget: 1.5 * MiB } });
    const dir = await tempDir();
    const file = await dataFile(dir, "w.bin", 3 * MiB);
    const ctx = uploadContext(connection(s3), `${dir}/state`, { limit: (await import("p-limit")).default(1) });
    const error = await uploadFile(ctx, { localPath: file.localPath, key: "models/w.bin", size: file.size }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VolumeFullError);
    expect((error as Error).message).toMatch(/vol1@EU-RO-1 is full/);
    expect(s3.requests.filter((r) => r.status === 507)).toHaveLength(1);
    expect(ctx.events.some((e) => e.type === "upload-retry")).toBe(false);
  });

  it("paces the bytes of each part at --max-rate as they reach the store, instead of sending a part in one burst after a wait", { timeout: 60_000 }, async () => {
    const s3 = await localS3();
    const dir = await tempDir();
    const file = await dataFile(dir, "model.bin", 5 * MiB);
    const cap = 2 * MiB;
    // Two parts of 3 and 2 MiB, sent at once (the part budget allows 4): one budget for both.
    const ctx = uploadContext(connection(s3), `${dir}/state`, { rate: new RateLimit(cap), env: { DOWNLOAD_MODELS_S3_PART_MB: "3" } });
    const samples: { at: number; bytes: number }[] = [];
    const sample = () => samples.push({ at: performance.now(), bytes: s3.bytesReceived() });
    const timer = setInterval(sample, 10);
    let done;
    try {
      done = await uploadFile(ctx, { localPath: file.localPath, key: "models/model.bin", size: file.size, sha256: file.sha256 });
    } finally {
      clearInterval(timer);
      sample();
    }
    expect(done.etagCheck).toBe("multipart");
    expect(s3.count("UploadPart")).toBe(2);
    expect(md5(await readFile(s3.store.buckets.get("vol1")!.get("models/model.bin")!.path))).toBe(file.md5);
    // Received by the store in any 500 ms: at most the cap's share, plus the limiter's burst (100 kB) and a chunk
    // or two in flight. Per request, a 3 MiB part would arrive within a few milliseconds.
    const WINDOW = 500;
    let worst = 0;
    for (let i = 0; i < samples.length; i++) {
      let j = i;
      while (j + 1 < samples.length && samples[j + 1]!.at - samples[i]!.at <= WINDOW) j++;
      worst = Math.max(worst, samples[j]!.bytes - samples[i]!.bytes);
    }
    expect(worst).toBeLessThanOrEqual((cap * WINDOW) / 1000 + 384 * 1024);
    // And the whole file took what the cap says (less the first burst).
    expect(samples.at(-1)!.at - samples[0]!.at).toBeGreaterThan(((file.size - 256 * 1024) / cap) * 1000);
  });
});
