import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import pLimit from "p-limit";
import { onTestFinished } from "vitest";
import { deterministicBytes, startLocalS3, type LocalS3, type S3ServerOptions } from "../../local-hub/index.ts";
import { connect, disconnect, type S3Connection } from "../../src/remote/client.ts";
import type { S3Event } from "../../src/remote/events.ts";
import { parseVolume } from "../../src/remote/target.ts";
import type { UploadContext } from "../../src/remote/upload.ts";

export const KEYS = { accessKeyId: "user_2abcDEFtest", secretAccessKey: "rps_localTestSecret0123456789" };
export const MiB = 1024 * 1024;

/** A local S3 endpoint for one test, closed when it ends. */
export async function localS3(options: Partial<S3ServerOptions> = {}): Promise<LocalS3> {
  const s3 = await startLocalS3({ buckets: ["vol1"], credentials: KEYS, ...options });
  onTestFinished(() => s3.close());
  return s3;
}

/** A connection to `volume` (default: RunPod volume vol1 in EU-RO-1) through the local endpoint. */
export function connection(s3: LocalS3, volume = "vol1@EU-RO-1", creds: { accessKeyId: string; secretAccessKey: string } = KEYS): S3Connection {
  const conn = connect(parseVolume(volume, { endpoint: s3.url }), { ...creds, from: "test" }, { maxAttempts: 3 });
  onTestFinished(() => disconnect(conn));
  return conn;
}

/** Upload context with fast retries and short HEAD waits; events collected in `events`. */
export function uploadContext(conn: S3Connection, stateDir: string, extra: Partial<UploadContext> = {}): UploadContext & { events: S3Event[] } {
  const events: S3Event[] = [];
  return {
    conn,
    limit: pLimit(4),
    env: { DOWNLOAD_MODELS_S3_PART_MB: "1" },
    stateDir,
    retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 50 },
    headRetryDelaysMs: [20, 40, 80],
    completeTimeoutMs: 10_000,
    ...extra,
    events,
    onEvent: (e) => events.push(e),
  };
}

/** A file of `size` deterministic bytes; returns its path, size and digests. */
export async function dataFile(dir: string, rel: string, size: number, seed = rel): Promise<{ localPath: string; size: number; md5: string; sha256: string }> {
  const bytes = deterministicBytes(seed, 0, size);
  const localPath = join(dir, rel);
  await mkdir(dirname(localPath), { recursive: true });
  await writeFile(localPath, bytes);
  return { localPath, size, md5: createHash("md5").update(bytes).digest("hex"), sha256: createHash("sha256").update(bytes).digest("hex") };
}
