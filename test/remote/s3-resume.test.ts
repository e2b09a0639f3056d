import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { expect, it } from "vitest";
import { uploadFile } from "../../src/remote/upload.ts";
import { pruneUploads } from "../../src/remote/upload-state.ts";
import { connection, dataFile, KEYS, localS3, MiB, uploadContext } from "../helpers/s3.ts";
import { tempDir } from "../helpers/tmp.ts";

const CHILD = join(import.meta.dirname, "..", "helpers", "s3-upload-child.ts");

// A kill can land mid-write and leave the temp file of an atomic write beside the records.
const records = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((n) => n.endsWith(".json"));

async function waitFor(check: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
}

it("resumes a multipart upload killed with SIGKILL from the parts already on the store", async () => {
  const s3 = await localS3({ faults: { delayMs: { UploadPart: 150 } } });
  const dir = await tempDir();
  const stateDir = join(dir, "state");
  const file = await dataFile(dir, "big.bin", 8 * MiB + 100);
  const key = "models/huggingface/hub/models--o--n/snapshots/abc/big.bin";
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, s3.url, stateDir, file.localPath, key, String(file.size)], {
    env: { ...process.env, DOWNLOAD_MODELS_S3_PART_MB: "1", TEST_S3_KEY: KEYS.accessKeyId, TEST_S3_SECRET: KEYS.secretAccessKey },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
  try {
    await waitFor(() => s3.requests.filter((r) => r.operation === "UploadPart" && r.status === 200).length >= 3, 30_000);
  } finally {
    child.kill("SIGKILL");
  }
  expect(await exited).toBe("SIGKILL");
  expect(await records(stateDir)).toHaveLength(1);
  const stagedBefore = [...s3.store.uploads.values()][0]!.parts.size;
  expect(stagedBefore).toBeGreaterThanOrEqual(3);
  expect(stagedBefore).toBeLessThan(9);

  s3.resetStats();
  s3.faults.delayMs = {};
  const ctx = uploadContext(connection(s3), stateDir);
  const done = await uploadFile(ctx, { localPath: file.localPath, key, size: file.size });

  expect(done.etagCheck).toBe("multipart");
  expect(s3.count("CreateMultipartUpload")).toBe(0);
  expect(s3.count("ListParts")).toBe(1);
  // Parts the killed process finished are not sent again.
  expect(s3.bytesReceived()).toBeLessThanOrEqual(file.size - stagedBefore * MiB + MiB);
  expect(done.bytesSent).toBe(s3.bytesReceived());
  const start = ctx.events.find((e) => e.type === "upload-start");
  expect(start).toMatchObject({ multipart: true, resumedBytes: stagedBefore * MiB });
  const stored = s3.store.buckets.get("vol1")!.get(key)!;
  expect(createHash("md5").update(await readFile(stored.path)).digest("hex")).toBe(file.md5);
  expect(s3.store.uploads.size).toBe(0);
  expect(await records(stateDir)).toHaveLength(0);
});

it("starts over when the local file changed since the recorded upload, and aborts the stale one after success", async () => {
  const s3 = await localS3();
  const dir = await tempDir();
  const stateDir = join(dir, "state");
  const key = "models/x/big.bin";
  const first = await dataFile(dir, "big.bin", 3 * MiB, "v1");
  const ctx = uploadContext(connection(s3), stateDir);
  // Leave an upload half done: a part fails for good, so the record stays.
  s3.faults.errors.push({ operation: "UploadPart", status: 400, times: 1 });
  await expect(uploadFile(ctx, { localPath: first.localPath, key, size: first.size })).rejects.toThrow();
  expect(s3.store.uploads.size).toBe(1);

  const second = await dataFile(dir, "big.bin", 3 * MiB, "v2");
  s3.resetStats();
  await uploadFile(ctx, { localPath: second.localPath, key, size: second.size });
  expect(s3.count("CreateMultipartUpload")).toBe(1);
  expect(s3.count("AbortMultipartUpload")).toBe(1);
  expect(s3.store.uploads.size).toBe(0);
  const stored = s3.store.buckets.get("vol1")!.get(key)!;
  expect(createHash("md5").update(await readFile(stored.path)).digest("hex")).toBe(second.md5);
});

it("prune aborts abandoned multipart uploads under the target's prefix and drops their local records", async () => {
  const s3 = await localS3();
  const dir = await tempDir();
  const stateDir = join(dir, "state");
  const file = await dataFile(dir, "big.bin", 3 * MiB);
  const conn = connection(s3);
  s3.faults.errors.push({ operation: "UploadPart", status: 400, times: 1 });
  await expect(uploadFile(uploadContext(conn, stateDir), { localPath: file.localPath, key: "models/x/big.bin", size: file.size })).rejects.toThrow();
  s3.store.createUpload("vol1", "elsewhere/not-ours.bin");
  expect(await records(stateDir)).toHaveLength(1);

  expect(await pruneUploads(conn, { stateDir, olderThanMs: 60_000 })).toEqual([]);
  expect(await pruneUploads(conn, { stateDir, olderThanMs: 0, now: Date.now() + 1000 })).toEqual(["models/x/big.bin"]);
  expect([...s3.store.uploads.values()].map((u) => u.key)).toEqual(["elsewhere/not-ours.bin"]);
  expect(await records(stateDir)).toHaveLength(0);
});
