import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { makeRepo } from "@download-models/local-hub";
import { hub } from "../helpers/hub.ts";
import { runCli } from "../helpers/cli.ts";
import { KEYS, localS3 } from "../helpers/s3.ts";
import { tempDir } from "../helpers/tmp.ts";
import { connect, disconnect, explainTargetError, parseVolume } from "../../src/remote/index.ts";

const MB = 1024 * 1024;

const s3Env = (home: string, hubUrl: string) => ({
  HOME: home, XDG_CACHE_HOME: join(home, "cache"), HF_ENDPOINT: hubUrl,
  RUNPOD_S3_ACCESS_KEY_ID: KEYS.accessKeyId, RUNPOD_S3_SECRET_ACCESS_KEY: KEYS.secretAccessKey, DOWNLOAD_MODELS_S3_PART_MB: "1",
});

describe("S3 fills", () => {
  it("two fills of the same volume at once, same user and staging: both succeed, the volume verifies", { timeout: 120_000 }, async () => {
    const repo = makeRepo({ id: "acme/shared", files: [{ path: "model.safetensors", size: 8 * MB }, { path: "config.json", text: "{}\n" }] });
    const h = await hub({ repos: [repo] });
    // Slow parts: both fills are mid-upload of the same key when the first one completes it.
    const s3 = await localS3({ faults: { delayMs: { UploadPart: 150 } } });
    const home = await tempDir();
    const env = s3Env(home, h.url);
    const args = ["acme/shared", "--volume", "vol1@EU-RO-1", "--s3-endpoint", s3.url, "--connections", "2"];
    const [a, b] = await Promise.all([runCli(args, env), sleep(300).then(() => runCli(args, env))]);
    expect(a.stderr + b.stderr).not.toMatch(/NoSuchUpload|FAILED/);
    expect([a.code, b.code]).toEqual([0, 0]);
    // Neither aborted the other's upload: the upload the second started was completed by it.
    expect(s3.count("CompleteMultipartUpload")).toBe(2);
    const verify = await runCli(["verify", "--volume", "vol1@EU-RO-1", "--s3-endpoint", s3.url], env);
    expect(verify.code).toBe(0);
    // Holder records are gone once both ended.
    expect([...(s3.store.buckets.get("vol1")?.keys() ?? [])].filter((k) => k.includes("/holders/"))).toEqual([]);
  });

  it("two fills of the same volume at once from two machines (own home, staging and upload state): both succeed, the volume verifies", { timeout: 120_000 }, async () => {
    const repo = makeRepo({ id: "acme/shared", files: [{ path: "model.safetensors", size: 8 * MB }, { path: "config.json", text: "{}\n" }] });
    const h = await hub({ repos: [repo] });
    const s3 = await localS3({ faults: { delayMs: { UploadPart: 150 } } });
    const [one, two] = [s3Env(await tempDir(), h.url), s3Env(await tempDir(), h.url)];
    const args = ["acme/shared", "--volume", "vol1@EU-RO-1", "--s3-endpoint", s3.url, "--connections", "2"];
    const [a, b] = await Promise.all([runCli(args, one), sleep(300).then(() => runCli(args, two))]);
    expect(a.stderr + b.stderr).not.toMatch(/NoSuchUpload|FAILED/);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(s3.count("CompleteMultipartUpload")).toBe(2);
    expect((await runCli(["verify", "--volume", "vol1@EU-RO-1", "--s3-endpoint", s3.url], one)).code).toBe(0);
  });

  it("--max-rate caps the uploads too, and is shown in the units it was given", { timeout: 120_000 }, async () => {
    const repo = makeRepo({ id: "acme/capped", files: [{ path: "model.safetensors", size: 4 * MB }] });
    const h = await hub({ repos: [repo] });
    const s3 = await localS3();
    const home = await tempDir();
    const root = await tempDir();
    const env = s3Env(home, h.url);
    // Staged first without a cap: the capped run below only uploads.
    expect((await runCli(["acme/capped", "--root", root], env)).code).toBe(0);
    const samples: { t: number; bytes: number }[] = [];
    const watch = setInterval(() => samples.push({ t: Date.now(), bytes: s3.bytesReceived() }), 25);
    const r = await runCli(["acme/capped", "--root", root, "--volume", "vol1@EU-RO-1", "--s3-endpoint", s3.url, "--max-rate", "1M"], env);
    clearInterval(watch);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("bandwidth capped at 1M/s");
    const first = samples.find((s) => s.bytes > 0)!;
    const last = samples.find((s) => s.bytes >= 4 * MB)!;
    // 4 MiB at 1 MiB/s: about 4 s. Generous: more than 2 s (uncapped it takes well under half a second).
    expect(last.t - first.t).toBeGreaterThan(2000);
  });

  it("a clock off by more than the server allows says how far off it is, from the server's Date, even when the store answers with a plain 403", () => {
    const conn = connect(parseVolume("vol1@EU-RO-1"), { ...KEYS, from: "test" });
    const later = new Date(Date.now() + 7200_000).toUTCString();
    const refused = Object.assign(new Error("Forbidden"), { name: "AccessDenied", $metadata: { httpStatusCode: 403 }, $response: { statusCode: 403, headers: { date: later } } });
    expect(explainTargetError(conn, refused).message).toMatch(/your clock is 7\d{3} s off the volume's server: fix the clock \(NTP\)/);
    // A 403 from a server whose clock agrees with ours is about the credentials.
    const denied = Object.assign(new Error("Forbidden"), { name: "AccessDenied", $metadata: { httpStatusCode: 403 }, $response: { statusCode: 403, headers: { date: new Date().toUTCString() } } });
    expect(explainTargetError(conn, denied).message).toMatch(/access denied to network volume vol1/);
    disconnect(conn);
  });

  it("the target check prints a waiting line instead of silence", { timeout: 60_000 }, async () => {
    const s3 = await localS3({ faults: { delayMs: { HeadBucket: 4500 } } });
    const home = await tempDir();
    const r = await runCli(["prune", "--volume", "vol1@EU-RO-1", "--s3-endpoint", s3.url], s3Env(home, "http://127.0.0.1:9"));
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`waiting for ${s3.url.replace(/[.]/g, "\\.")} \\(--volume vol1@EU-RO-1\\) to answer: \\d+ s so far`));
  });
});
