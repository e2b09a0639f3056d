import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UnsafePathError, UsageError } from "../../src/errors.ts";
import { resolveCredentials } from "../../src/remote/credentials.ts";
import { partPlan } from "../../src/remote/part-size.ts";
import { keyFor, parseVolume } from "../../src/remote/target.ts";
import { tempDir } from "../helpers/tmp.ts";

describe("parseVolume", () => {
  it.each([
    ["abc123xyz@EU-RO-1", { kind: "runpod", bucket: "abc123xyz", region: "EU-RO-1", endpoint: "https://s3api-eu-ro-1.runpod.io", prefix: "models/" }],
    ["abc123xyz@eur-is-1", { kind: "runpod", bucket: "abc123xyz", region: "EUR-IS-1", endpoint: "https://s3api-eur-is-1.runpod.io", prefix: "models/" }],
    ["s3://bucket", { kind: "s3", bucket: "bucket", prefix: "", endpoint: undefined }],
    ["s3://bucket/some/prefix/", { kind: "s3", bucket: "bucket", prefix: "some/prefix/" }],
  ])("%s", (input, expected) => {
    expect(parseVolume(input)).toMatchObject({ label: input, ...expected });
  });

  it("takes --s3-endpoint for either form, http or https, without a trailing slash", () => {
    expect(parseVolume("v@US-KS-2", { endpoint: "http://127.0.0.1:9000/" }).endpoint).toBe("http://127.0.0.1:9000");
    expect(parseVolume("s3://b", { endpoint: "https://minio.example" }).endpoint).toBe("https://minio.example");
  });

  it.each([
    ["@EU-RO-1", /volume id before "@" is missing/],
    ["vol@nowhere", /"nowhere" does not look like a RunPod datacenter id \(letters-letters-digits/],
    ["vol@EU-RO", /does not look like a RunPod datacenter id/],
    ["vol@EU-RO-1-2", /does not look like a RunPod datacenter id/],
    ["vol@", /does not look like a RunPod datacenter id/],
    ["justaname", /neither VOLUME_ID@DATACENTER .* nor s3:\/\/BUCKET/],
    ["s3://", /is not a bucket name/],
    ["s3://b/../x", /may not contain empty, "\." or "\.\." segments/],
    ["s3://b/workspace/models", /must not start with "workspace\/"/],
  ])("refuses %s with a UsageError", (input, message) => {
    const error = (() => {
      try {
        parseVolume(input);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).exitCode).toBe(2);
    expect((error as Error).message).toMatch(message);
  });

  it.each(["ftp://x", "not a url", "http://h/path"])("refuses --s3-endpoint %s", (endpoint) => {
    expect(() => parseVolume("v@EU-RO-1", { endpoint })).toThrow(UsageError);
  });

  it("keyFor joins a relative path under the prefix and refuses escapes", () => {
    expect(keyFor("models/", "huggingface/hub/models--o--n/refs/main")).toBe("models/huggingface/hub/models--o--n/refs/main");
    expect(() => keyFor("models/", "a/../../etc")).toThrow(/not a relative path/);
    expect(() => keyFor("models/", "../outside")).toThrow(UnsafePathError);
    expect(() => keyFor("models/", "")).toThrow(/^Refusing to upload "" to the volume: .*\(empty path\)\. .*run the command again\.$/);
  });
});

describe("resolveCredentials", () => {
  const runpod = parseVolume("vol@EU-RO-1");

  it("takes RUNPOD_S3_* for a RunPod volume and never the AWS variables", async () => {
    const env = { RUNPOD_S3_ACCESS_KEY_ID: "user_1", RUNPOD_S3_SECRET_ACCESS_KEY: "rps_2", AWS_ACCESS_KEY_ID: "AKIAREAL", AWS_SECRET_ACCESS_KEY: "real" };
    expect(await resolveCredentials(runpod, { env })).toMatchObject({ accessKeyId: "user_1", secretAccessKey: "rps_2" });
    const error = await resolveCredentials(runpod, { env: { AWS_ACCESS_KEY_ID: "AKIAREAL", AWS_SECRET_ACCESS_KEY: "real" } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(/set RUNPOD_S3_ACCESS_KEY_ID and RUNPOD_S3_SECRET_ACCESS_KEY/);
    expect((error as Error).message).not.toContain("real");
  });

  it("reads a named profile from the shared credentials file", async () => {
    const dir = await tempDir();
    const file = join(dir, "credentials");
    await writeFile(file, "[default]\naws_access_key_id = AKIA\naws_secret_access_key = x\n\n[runpod]\naws_access_key_id = user_9\naws_secret_access_key = rps_9\n");
    const env = { AWS_SHARED_CREDENTIALS_FILE: file };
    expect(await resolveCredentials(runpod, { env, profile: "runpod" })).toMatchObject({ accessKeyId: "user_9", secretAccessKey: "rps_9" });
    await expect(resolveCredentials(runpod, { env, profile: "nope" })).rejects.toThrow(/no \[nope\] section/);
  });

  it("leaves s3:// targets to the AWS chain unless a profile is named", async () => {
    expect(await resolveCredentials(parseVolume("s3://b"), { env: {} })).toBeUndefined();
  });
});

describe("partPlan", () => {
  it("uses 64 MiB by default and DOWNLOAD_MODELS_S3_PART_MB for both threshold and part size", () => {
    expect(partPlan(1e9, {})).toEqual({ singlePutMax: 64 * 2 ** 20, partSize: 64 * 2 ** 20 });
    expect(partPlan(1e9, { DOWNLOAD_MODELS_S3_PART_MB: "5" })).toEqual({ singlePutMax: 5 * 2 ** 20, partSize: 5 * 2 ** 20 });
  });

  it("grows parts to stay within 9,000 and under 500 MB", () => {
    const plan = partPlan(4e12, {});
    expect(Math.ceil(4e12 / plan.partSize)).toBeLessThanOrEqual(9000);
    expect(plan.partSize).toBeLessThanOrEqual(500_000_000);
  });

  it.each(["0", "1.5", "abc", "-3", "477"])("refuses DOWNLOAD_MODELS_S3_PART_MB=%s", (value) => {
    expect(() => partPlan(10, { DOWNLOAD_MODELS_S3_PART_MB: value })).toThrow(UsageError);
  });
});
