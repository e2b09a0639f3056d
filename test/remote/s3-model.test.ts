import { createHash } from "node:crypto";
import { readFile, lstat } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { LocalS3 } from "@download-models/local-hub";
import type { S3Connection } from "../../src/remote/client.ts";
import { uploadModel, uploadModelToTargets, type VolumeModel } from "../../src/remote/model.ts";
import { listVolumeModels, verifyVolumeModel } from "../../src/remote/volume-read.ts";
import { readRecord, recordKeyFor, recordKeysFor } from "../../src/remote/volume-record.ts";
import { connection, dataFile, localS3, MiB, uploadContext } from "../helpers/s3.ts";
import { tempDir } from "../helpers/tmp.ts";

const COMMIT = "a".repeat(40);
const HF = "models/huggingface/hub/models--org--tiny/";
const TINY = { source: "huggingface", id: "org/tiny", revision: "main", include: [], exclude: [] };

/** An HF-shaped model: weights (multipart at 1 MiB parts), config, tree listing, then the ref. */
async function hfModel(dir: string, manifest: unknown = { projects: ["tts"] }): Promise<VolumeModel> {
  const weights = await dataFile(dir, "model.safetensors", 2 * MiB + 500);
  const config = await dataFile(dir, "config.json", 700);
  const tree = await dataFile(dir, "tree.json", 300);
  const ref = await dataFile(dir, "ref", 40, "ref");
  return {
    label: "huggingface:org/tiny@main",
    recordKey: recordKeyFor("models/", TINY),
    manifest,
    files: [
      { ...weights, key: `${HF}snapshots/${COMMIT}/model.safetensors`, sha256: weights.sha256 },
      { ...config, key: `${HF}snapshots/${COMMIT}/sub/config.json`, sha256: config.sha256 },
      { ...tree, key: `${HF}trees/${COMMIT}.json`, phase: 1 },
      { ...ref, key: `${HF}refs/main`, phase: 2 },
    ],
  };
}

const writes = (s3: LocalS3): string[] =>
  s3.requests.filter((r) => r.status === 200 && ["PutObject", "CompleteMultipartUpload"].includes(r.operation)).map((r) => r.key);

async function fill(s3: LocalS3, conn: S3Connection, dir: string, model: VolumeModel, extra = {}) {
  const ctx = uploadContext(conn, join(dir, "state"), extra);
  return { result: await uploadModel(ctx, model, { listingFaultPauseMs: 5 }), ctx };
}

describe("recordKeysFor", () => {
  it("names a request's record after its filters as sets, and still finds one named in written order by earlier versions", () => {
    const written = { ...TINY, include: ["*.safetensors", "*.json"] };
    const reordered = { ...TINY, include: ["*.json", "*.safetensors", "*.json"] };
    expect(recordKeyFor("models/", reordered)).toBe(recordKeyFor("models/", written));
    const keys = recordKeysFor("models/", written);
    expect(keys[0]).toBe(recordKeyFor("models/", written));
    expect(keys).toHaveLength(2);
    expect(keys[1]).not.toBe(keys[0]);
    expect(keys[1]).toMatch(/^models\/\.download-models\/huggingface\/org\/tiny\/main\.[0-9a-f]{12}\.json$/);
    expect(recordKeysFor("models/", TINY)).toEqual([recordKeyFor("models/", TINY)]); // no filters: one name
    expect(recordKeyFor("models/", { ...TINY, include: ["*.json"] })).not.toBe(recordKeyFor("models/", written));
  });
});

describe("uploadModel", () => {
  it("writes data, then tree, then ref, then the record; a second run sends nothing in two requests", async () => {
    const s3 = await localS3();
    const dir = await tempDir();
    const model = await hfModel(dir);
    const conn = connection(s3);
    const first = await fill(s3, conn, dir, model);
    expect(first.result).toMatchObject({ status: "uploaded", uploaded: 4, present: 0 });
    const order = writes(s3);
    expect(order.slice(-3)).toEqual([`${HF}trees/${COMMIT}.json`, `${HF}refs/main`, model.recordKey]);
    expect(new Set(order.slice(0, 2))).toEqual(new Set([model.files[0]!.key, model.files[1]!.key]));

    s3.resetStats();
    const second = await fill(s3, conn, dir, model);
    expect(second.result).toMatchObject({ status: "skipped", uploaded: 0, present: 4, bytesSent: 0 });
    expect(s3.requests.map((r) => r.operation)).toEqual(["GetObject", "ListObjectsV2"]);
    expect(s3.bytesReceived()).toBe(0);
  });

  it("sends only the objects that are missing or wrong", async () => {
    const s3 = await localS3();
    const dir = await tempDir();
    const model = await hfModel(dir);
    const conn = connection(s3);
    await fill(s3, conn, dir, model);
    await s3.store.deleteObject("vol1", `${HF}refs/main`);
    const configKey = model.files[1]!.key;
    const junk = await s3.store.receive((await import("node:stream")).Readable.from([Buffer.from("short")]));
    await s3.store.putObject("vol1", configKey, { path: junk.path, size: junk.size, etag: junk.md5 });

    s3.resetStats();
    const { result } = await fill(s3, conn, dir, model);
    expect(result).toMatchObject({ status: "uploaded", uploaded: 2, present: 2 });
    expect(writes(s3)).toEqual([configKey, `${HF}refs/main`, model.recordKey]);
    expect(s3.count("UploadPart")).toBe(0);
  });

  it("recognises objects a run left without its record by their ETags, and only writes the record", async () => {
    const s3 = await localS3();
    const dir = await tempDir();
    const model = await hfModel(dir);
    const conn = connection(s3);
    await fill(s3, conn, dir, model);
    await s3.store.deleteObject("vol1", model.recordKey);
    s3.resetStats();
    const { result } = await fill(s3, conn, dir, model);
    expect(result).toMatchObject({ status: "uploaded", uploaded: 0, present: 4 });
    expect(writes(s3)).toEqual([model.recordKey]);
  });

  it("rewrites only the record when the manifest changed", async () => {
    const s3 = await localS3();
    const dir = await tempDir();
    const conn = connection(s3);
    await fill(s3, conn, dir, await hfModel(dir, { projects: ["tts"] }));
    s3.resetStats();
    await fill(s3, conn, dir, await hfModel(dir, { projects: ["tts", "asr"] }));
    expect(writes(s3)).toEqual([recordKeyFor("models/", TINY)]);
    expect((await readRecord(conn, recordKeyFor("models/", TINY)))!.manifest).toEqual({ projects: ["tts", "asr"] });
  });

  it.each(["repeat-token", "truncated-body", "access-denied"] as const)("falls back to per-directory listing when flat pages break (%s)", async (fault) => {
    const s3 = await localS3({ maxKeys: 2 });
    const dir = await tempDir();
    const model = await hfModel(dir);
    const conn = connection(s3);
    await fill(s3, conn, dir, model);
    s3.faults.listingFault = fault;
    s3.resetStats();
    const { result, ctx } = await fill(s3, conn, dir, model);
    expect(result.status).toBe("skipped");
    expect(ctx.events.filter((e) => e.type === "listing-fallback")).toHaveLength(1);
    expect(s3.bytesReceived()).toBe(0);
  });
});

describe("several targets", () => {
  it("fills the healthy volume when the other one fills up, and says which one is full", async () => {
    const good = await localS3();
    const full = await localS3({ faults: { byteBudget: 1 * MiB } });
    const dir = await tempDir();
    const model = await hfModel(dir);
    const ctxs = [uploadContext(connection(good), join(dir, "state")), uploadContext(connection(full, "vol1@US-KS-2"), join(dir, "state"))];
    const results = await uploadModelToTargets(ctxs, model, { listingFaultPauseMs: 5 });
    expect(results[0]).toMatchObject({ target: "vol1@EU-RO-1", ok: true, result: { status: "uploaded", uploaded: 4 } });
    expect(results[1]).toMatchObject({ target: "vol1@US-KS-2", ok: false, volumeFull: true });
    expect(full.store.buckets.get("vol1")!.has(model.recordKey)).toBe(false);
    expect(good.store.buckets.get("vol1")!.has(model.recordKey)).toBe(true);
  });

  it("keeps going on one target while the other keeps answering 502", async () => {
    const good = await localS3();
    const broken = await localS3({ faults: { errors: [{ operation: "PutObject", status: 502, times: 1000 }, { operation: "UploadPart", status: 502, times: 1000 }] } });
    const dir = await tempDir();
    const model = await hfModel(dir);
    const ctxs = [uploadContext(connection(broken, "vol1@US-KS-2"), join(dir, "state")), uploadContext(connection(good), join(dir, "state"))];
    const results = await uploadModelToTargets(ctxs, model, { listingFaultPauseMs: 5 });
    expect(results.map((r) => r.ok)).toEqual([false, true]);
    expect(results[0]).toMatchObject({ volumeFull: false });
    expect((results[0] as { error: Error }).error.message).toMatch(/502/);
  });
});

describe("volume reads", () => {
  it("lists recorded models and verifies them by listing, naming model and file of each bad object", async () => {
    const s3 = await localS3();
    const dir = await tempDir();
    const model = await hfModel(dir);
    const conn = connection(s3);
    await fill(s3, conn, dir, model);
    const models = await listVolumeModels(conn);
    expect(models.map((m) => m.record.label)).toEqual(["huggingface:org/tiny@main"]);
    expect(await verifyVolumeModel(conn, models[0]!.record)).toEqual([]);

    await s3.store.deleteObject("vol1", `${HF}refs/main`);
    const weights = s3.store.buckets.get("vol1")!.get(model.files[0]!.key)!;
    weights.etag = "0".repeat(32);
    s3.resetStats();
    const problems = await verifyVolumeModel(conn, models[0]!.record);
    expect(problems.map((p) => [p.model, p.file, p.problem])).toEqual([
      ["huggingface:org/tiny@main", "refs/main", "missing"],
      ["huggingface:org/tiny@main", `snapshots/${COMMIT}/model.safetensors`, "etag"],
    ]);
    expect(s3.requests.every((r) => r.operation === "ListObjectsV2")).toBe(true);
  });

  it("leaves a tree of regular files that a Pod would see under models/", async () => {
    const s3 = await localS3();
    const dir = await tempDir();
    const model = await hfModel(dir);
    await fill(s3, connection(s3), dir, model);
    const volume = await tempDir();
    await s3.materialize("vol1", volume);
    const weights = join(volume, HF, "snapshots", COMMIT, "model.safetensors");
    expect((await lstat(weights)).isFile()).toBe(true);
    expect(createHash("sha256").update(await readFile(weights)).digest("hex")).toBe(model.files[0]!.sha256);
    expect(await readFile(join(volume, HF, "refs", "main"))).toHaveLength(40);
  });
});
