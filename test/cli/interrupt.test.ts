import { describe, expect, it } from "vitest";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { makeRepo } from "@download-models/local-hub";
import { hub } from "../helpers/hub.ts";
import { runCli, startCli } from "../helpers/cli.ts";
import { KEYS, localS3 } from "../helpers/s3.ts";
import { tempDir } from "../helpers/tmp.ts";

const MB = 1024 * 1024;
// A second of the signal, plus slack for a loaded 2-core machine (the suite runs files in parallel): alone, a
// download stops in about 0.3 s; without the interrupt path these commands die by the signal (no code, no line).
const STOP_MS = 2000;

/** Start the CLI, wait for `ready`, send `signal`, and time how long the process takes to exit after it. */
async function interrupt(args: string[], env: Record<string, string>, ready: () => boolean, signal: NodeJS.Signals = "SIGINT") {
  const child = startCli(args, env);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
  for (let i = 0; i < 300 && !ready() && child.exitCode === null; i++) await sleep(50);
  expect(child.exitCode, `exited before it was interrupted:\n${stdout}\n${stderr}`).toBeNull();
  child.kill(signal);
  const t0 = Date.now();
  const code = await exited;
  return { code, ms: Date.now() - t0, stdout, stderr };
}

const s3Env = (home: string, hubUrl: string) => ({
  HOME: home, XDG_CACHE_HOME: join(home, "cache"), HF_ENDPOINT: hubUrl,
  RUNPOD_S3_ACCESS_KEY_ID: KEYS.accessKeyId, RUNPOD_S3_SECRET_ACCESS_KEY: KEYS.secretAccessKey, DOWNLOAD_MODELS_S3_PART_MB: "1",
});

describe("one interrupt path: SIGINT/SIGTERM stop every command within a second, with a line and the exit code of the signal", () => {
  it("a --volume fill: an upload in flight is abandoned, exit 130, the line says what is kept", { timeout: 60_000 }, async () => {
    const repo = makeRepo({ id: "acme/fill", files: [{ path: "model.safetensors", size: 4 * MB }] });
    const h = await hub({ repos: [repo] });
    const s3 = await localS3({ faults: { delayMs: { UploadPart: 30_000 } } });
    const home = await tempDir();
    const r = await interrupt(["acme/fill", "--volume", "vol1@EU-RO-1", "--s3-endpoint", s3.url], s3Env(home, h.url), () => s3.count("UploadPart") > 0);
    expect(r.stderr).toMatch(/Interrupted \(SIGINT\): stopping the fill; downloaded files and uploaded parts are kept/);
    expect(r.code).toBe(130);
    expect(r.ms).toBeLessThan(STOP_MS);
    expect(r.stderr).not.toMatch(/FAILED/);
    expect(r.stdout).toMatch(/^Volumes:/m); // the summary still prints
  });

  it("a --volume fill stopped by SIGTERM (a Pod being stopped) exits 143", { timeout: 60_000 }, async () => {
    const repo = makeRepo({ id: "acme/fill", files: [{ path: "model.safetensors", size: 4 * MB }] });
    const h = await hub({ repos: [repo] });
    const s3 = await localS3({ faults: { delayMs: { UploadPart: 30_000 } } });
    const home = await tempDir();
    const r = await interrupt(["acme/fill", "--volume", "vol1@EU-RO-1", "--s3-endpoint", s3.url], s3Env(home, h.url), () => s3.count("UploadPart") > 0, "SIGTERM");
    expect(r.stderr).toMatch(/Interrupted \(SIGTERM\)/);
    expect(r.code).toBe(143);
    expect(r.ms).toBeLessThan(STOP_MS);
  });

  it("a download: interrupted models are listed as interrupted, not FAILED; exit 130", { timeout: 60_000 }, async () => {
    const repo = makeRepo({ id: "acme/slow", files: [{ path: "model.safetensors", size: 32 * MB }] });
    const h = await hub({ repos: [repo], bandwidthPerConnection: 2 * MB });
    const root = await tempDir();
    const r = await interrupt(["acme/slow", "--root", root], { HF_ENDPOINT: h.url }, () => h.bytesServed > MB);
    expect(r.code).toBe(130);
    expect(r.ms).toBeLessThan(STOP_MS);
    expect(r.stderr).toMatch(/^ {2}interrupted huggingface {2}acme\/slow@main/m);
    expect(r.stderr + r.stdout).not.toMatch(/FAILED/);
    expect(r.stdout).toMatch(/Summary: 0 downloaded, 0 skipped, 0 failed, 1 interrupted/);
  });

  it("lock: waiting on the hub, exit 130; the lockfile is left as it was", { timeout: 60_000 }, async () => {
    const repo = makeRepo({ id: "acme/lock-me", files: [{ path: "w.bin", size: 1000 }] });
    const h = await hub({ repos: [repo], latencyMs: 20_000 });
    const dir = await tempDir();
    const lockfile = join(dir, "models.lock.json");
    const r = await interrupt(["lock", "hf:acme/lock-me", "--lockfile", lockfile], { HF_ENDPOINT: h.url }, () => h.requests.length > 0);
    expect(r.stderr).toMatch(/Interrupted \(SIGINT\): stopping the lock; .*models\.lock\.json is left as it was/);
    expect(r.code).toBe(130);
    expect(r.ms).toBeLessThan(STOP_MS);
  });

  it("prune --volume --yes: an abort in flight is abandoned, exit 130", { timeout: 60_000 }, async () => {
    const s3 = await localS3({ faults: { delayMs: { AbortMultipartUpload: 30_000 } } });
    const home = await tempDir();
    // An upload a killed run left behind.
    const { connection } = await import("../helpers/s3.ts");
    const { CreateMultipartUploadCommand } = await import("@aws-sdk/client-s3");
    await connection(s3).client.send(new CreateMultipartUploadCommand({ Bucket: "vol1", Key: "models/left/behind.bin" }));
    const r = await interrupt(
      ["prune", "--yes", "--older-than", "0s", "--volume", "vol1@EU-RO-1", "--s3-endpoint", s3.url], s3Env(home, "http://127.0.0.1:9"),
      () => s3.requests.some((q) => q.operation === "AbortMultipartUpload"),
    );
    expect(r.stderr).toMatch(/Interrupted \(SIGINT\): stopping the prune/);
    expect(r.code).toBe(130);
    expect(r.ms).toBeLessThan(STOP_MS);
  });

  it("verify --repair: the re-download is stopped, exit 130, the summary prints", { timeout: 60_000 }, async () => {
    const repo = makeRepo({ id: "acme/fix", files: [{ path: "model.safetensors", size: 24 * MB }] });
    const fast = await hub({ repos: [repo] });
    const root = await tempDir();
    expect((await runCli(["acme/fix", "--root", root], { HF_ENDPOINT: fast.url })).code).toBe(0);
    const blob = join(root, "huggingface", "hub", "models--acme--fix", "snapshots");
    const { readdir } = await import("node:fs/promises");
    const [commit] = await readdir(blob);
    await writeFile(join(blob, commit!, "model.safetensors"), "broken");
    const slow = await hub({ repos: [repo], bandwidthPerConnection: 1 * MB });
    const r = await interrupt(["verify", "--repair", "hf:acme/fix", "--root", root], { HF_ENDPOINT: slow.url }, () => slow.bytesServed > 256 * 1024);
    expect(r.stderr).toMatch(/Interrupted \(SIGINT\): stopping the repair/);
    expect(r.code).toBe(130);
    expect(r.ms).toBeLessThan(STOP_MS);
    expect(r.stdout).toMatch(/Summary: /);
  });
});
