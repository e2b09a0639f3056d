import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { makeRepo } from "../local-hub/index.ts";
import { hub } from "./helpers/hub.ts";
import { runMain } from "./helpers/cli.ts";
import { KEYS, localS3 } from "./helpers/s3.ts";
import { tempDir } from "./helpers/tmp.ts";

const MS_ID = "damo/speech_model.v2";
const MASKED = "speech_model___v2";
const hfRepo = () =>
  makeRepo({
    id: "acme/tiny-model",
    files: [
      { path: "config.json", text: '{"a":1}\n' },
      { path: "model.safetensors", size: 2 * 1024 * 1024 + 777 },
      { path: "onnx/deep/model.onnx", size: 120_000 },
    ],
  });
const msRepo = () =>
  makeRepo({
    source: "modelscope",
    id: MS_ID,
    files: [
      { path: "configuration.json", text: '{"framework":"pytorch","task":"speaker-verification"}\n' },
      { path: "model.pt", size: 3 * 1024 * 1024 },
      { path: "sub/deep/vocab.txt", size: 4000, lfs: false },
    ],
  });

async function setup(buckets = ["vol1"]) {
  const h = await hub({ repos: [hfRepo(), msRepo()] });
  const s3 = await localS3({ buckets });
  const home = await tempDir();
  const env = {
    HOME: home, XDG_CACHE_HOME: join(home, "cache"), HF_ENDPOINT: h.url, MODELSCOPE_ENDPOINT: h.url,
    RUNPOD_S3_ACCESS_KEY_ID: KEYS.accessKeyId, RUNPOD_S3_SECRET_ACCESS_KEY: KEYS.secretAccessKey, DOWNLOAD_MODELS_S3_PART_MB: "1",
  };
  return { h, s3, home, env };
}

describe("download-models --volume", () => {
  it("smoke", async () => {
    const { s3, env } = await setup();
    const r = await runMain(["acme/tiny-model", MS_ID, "--volume", "vol1@EU-RO-1", "--s3-endpoint", s3.url], env);
    console.log(r.stdout, r.stderr, r.code);
    console.log(await s3.store.listObjects?.("vol1"));
  });
});
