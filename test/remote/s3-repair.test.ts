import { describe, expect, it } from "vitest";
import { realpath, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { makeRepo, type HubRepo, type LocalHub, type LocalS3 } from "@download-models/local-hub";
import { hub } from "../helpers/hub.ts";
import { runMain } from "../helpers/cli.ts";
import { connection, KEYS, localS3 } from "../helpers/s3.ts";
import { tempDir } from "../helpers/tmp.ts";

// `verify --volume --repair` reads again only the files behind the bad objects and sends only those objects.

const repo = () =>
  makeRepo({
    id: "acme/three",
    files: [
      { path: "config.json", text: '{"a":1}\n' },
      { path: "model.safetensors", size: 2 * 1024 * 1024 + 777 },
      { path: "onnx/deep/model.onnx", size: 120_000 },
    ],
  });

async function setup() {
  const hf = repo();
  const h = await hub({ repos: [hf] });
  const s3 = await localS3({ buckets: ["vol1"] });
  const home = await tempDir();
  const env = {
    HOME: home, XDG_CACHE_HOME: join(home, "cache"), HF_ENDPOINT: h.url,
    RUNPOD_S3_ACCESS_KEY_ID: KEYS.accessKeyId, RUNPOD_S3_SECRET_ACCESS_KEY: KEYS.secretAccessKey, DOWNLOAD_MODELS_S3_PART_MB: "1",
  };
  const V = ["--volume", "vol1@EU-RO-1", "--s3-endpoint", s3.url];
  const key = (path: string) => `models/huggingface/hub/models--acme--three/snapshots/${hf.refs.main}/${path}`;
  return { h, hf, s3, home, env, V, key };
}

/** The repo files the hub (and its CDN) sent bytes of, one entry per request: LFS bodies come from the CDN by sha256. */
const filesServed = (h: LocalHub, hf: HubRepo) =>
  h.requests
    .filter((r) => r.method === "GET" && r.status >= 200 && r.status < 300 && (r.server === "cdn" || r.path.includes("/resolve")))
    .map((r) => {
      const path = decodeURIComponent(r.path.split("?")[0]!);
      return hf.commits[0]!.files.find((f) => path.includes(f.sha256) || path.endsWith(`/${f.path}`))?.path ?? path;
    });

/** Write requests per key (holder records, which announce a run on the volume, left out). */
function writesPerKey(s3: LocalS3): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const r of s3.requests) {
    if (!["PutObject", "UploadPart", "CreateMultipartUpload", "CompleteMultipartUpload"].includes(r.operation) || r.key.includes("/holders/")) continue;
    (out[r.key] ??= []).push(r.operation);
  }
  return out;
}

describe("verify --volume --repair", () => {
  it("fetches only the file behind a missing object from the hub and sends only that object; verify then passes", { timeout: 60_000 }, async () => {
    const { h, hf, s3, env, V, key } = await setup();
    expect((await runMain(["acme/three", ...V], env)).code).toBe(0);
    await s3.store.deleteObject("vol1", key("model.safetensors"));
    h.resetStats();
    s3.resetStats();

    const r = await runMain(["verify", "--repair", ...V], env);
    expect(r.stderr).toMatch(/BAD +huggingface:acme\/three@main on vol1@EU-RO-1: 1 object\n +snapshots\/[0-9a-f]{40}\/model\.safetensors is missing$/m);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/fetched +huggingface:acme\/three@main \([0-9a-f]{12}\): model\.safetensors from the hub, that file alone/);
    expect(r.stdout).toMatch(/repaired +huggingface:acme\/three@main on vol1@EU-RO-1: 1 object sent/);
    // The hub served that one file, once; the volume received that one object (1 MiB parts) and nothing else.
    expect(filesServed(h, hf)).toEqual(["model.safetensors"]);
    const writes = writesPerKey(s3);
    expect(Object.keys(writes)).toEqual([key("model.safetensors")]);
    expect(writes[key("model.safetensors")]!.filter((op) => op === "UploadPart")).toHaveLength(3);

    const again = await runMain(["verify", ...V], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/1 ok, 0 bad/);
  });

  it("takes an intact file from the local store (--root) without a request to the hub; a corrupt one comes from the hub alone", { timeout: 60_000 }, async () => {
    const { h, hf, s3, env, V, key } = await setup();
    const root = await tempDir();
    expect((await runMain(["acme/three", "--root", root, ...V], env)).code).toBe(0);
    const conn = connection(s3);
    // Same size, other bytes: only the ETag tells.
    await conn.client.send(new PutObjectCommand({ Bucket: "vol1", Key: key("onnx/deep/model.onnx"), Body: Buffer.alloc(120_000, 7) }));
    h.resetStats();
    s3.resetStats();

    const local = await runMain(["verify", "--repair", "--root", root, ...V], env);
    expect(local.stderr).toMatch(/\n +snapshots\/[0-9a-f]{40}\/onnx\/deep\/model\.onnx has ETag [0-9a-f]+, expected [0-9a-f]+ \(its content changed\)$/m);
    expect(local.code).toBe(0);
    expect(local.stdout).toMatch(/fetched +huggingface:acme\/three@main \([0-9a-f]{12}\): onnx\/deep\/model\.onnx from the local store/);
    expect(h.requests).toEqual([]);
    expect(Object.keys(writesPerKey(s3))).toEqual([key("onnx/deep/model.onnx")]);
    expect((await runMain(["verify", ...V], env)).code).toBe(0);

    // The local copy rots too: it is hashed before it is sent, and fetched again alone.
    const blob = await realpath(join(root, "huggingface", "hub", "models--acme--three", "snapshots", hf.refs.main!, "onnx", "deep", "model.onnx"));
    expect(blob).toContain(`${join("models--acme--three", "blobs")}`);
    await writeFile(blob, Buffer.alloc(120_000, 9));
    await s3.store.deleteObject("vol1", key("onnx/deep/model.onnx"));
    h.resetStats();
    s3.resetStats();
    const rotten = await runMain(["verify", "--repair", "--root", root, ...V], env);
    expect(rotten.code).toBe(0);
    expect(filesServed(h, hf)).toEqual(["onnx/deep/model.onnx"]);
    expect(Object.keys(writesPerKey(s3))).toEqual([key("onnx/deep/model.onnx")]);
    expect((await runMain(["verify", ...V], env)).code).toBe(0);
    expect((await runMain(["verify", "--root", root, "acme/three"], env)).code).toBe(0);
  });
});
