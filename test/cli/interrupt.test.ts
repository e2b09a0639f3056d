import { describe, expect, it } from "vitest";
import type { ChildProcess } from "node:child_process";
import { statSync } from "node:fs";
import { mkdir, readdir, utimes, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { makeRepo } from "@download-models/local-hub";
import { download, hfModel, hub } from "../helpers/hub.ts";
import { runCli, startCli } from "../helpers/cli.ts";
import { KEYS, localS3 } from "../helpers/s3.ts";
import { tempDir } from "../helpers/tmp.ts";

const MB = 1024 * 1024;
// From the signal to the "Interrupted (…)" line: printed by the signal handler itself, so only a blocked event
// loop can delay it.
const LINE_MS = 1000;
// From the signal to the exit: the work stops, the summary prints, the process exits. Alone a command exits within
// 0.02–0.35 s; on a 2-core machine loaded by other test files and processes (load 17–28) 0.1–2.3 s, nearly all of it
// waiting for a CPU (the child's own work after the signal took 0.07–0.9 s there), so the bound has that room.
const STOP_MS = 2500;

/**
 * Start the CLI, wait for `ready`, send `signal`, and time how long after it the "Interrupted" line comes on
 * stderr (`lineMs`) and the process exits (`ms`). `then` runs once the line is seen (a second signal).
 */
async function interrupt(
  args: string[], env: Record<string, string>, ready: (seen: { stdout: string; stderr: string }) => boolean, signal: NodeJS.Signals = "SIGINT",
  then?: (child: ChildProcess) => void,
) {
  const child = startCli(args, env);
  let stdout = "";
  let stderr = "";
  let sentAt = 0;
  let lineMs: number | undefined;
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => {
    stderr += d;
    if (sentAt && lineMs === undefined && /Interrupted \(SIG/.test(stderr)) {
      lineMs = performance.now() - sentAt;
      then?.(child);
    }
  });
  const exited = new Promise<{ code: number | null; at: number }>((done) => child.on("exit", (code) => done({ code, at: performance.now() })));
  for (let i = 0; i < 600 && !ready({ stdout, stderr }) && child.exitCode === null; i++) await sleep(50);
  expect(child.exitCode, `exited before it was interrupted:\n${stdout}\n${stderr}`).toBeNull();
  sentAt = performance.now();
  child.kill(signal);
  const { code, at } = await exited;
  const ms = Math.round(at - sentAt);
  process.stderr.write(`interrupt ${args[0]} ${args.includes("--volume") ? "--volume " : ""}(${signal}): line after ${Math.round(lineMs ?? -1)} ms, exit after ${ms} ms\n`);
  return { code, ms, lineMs: lineMs ?? Infinity, stdout, stderr };
}

/**
 * Hold a model's gate under a cache root as a live process of this host would (this test's own PID): a prune or a
 * bake of the model waits for it until its content has not changed for the lease's stale time (30 s).
 */
async function holdGate(cacheRoot: string, folder: string): Promise<void> {
  const dir = join(cacheRoot, ".locks", "download-models", folder);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "model.lease"), JSON.stringify({ owner: `${hostname()}:${process.pid}:test`, beat: 0, at: new Date().toISOString() }));
}

/** The line and the exit within their bounds. */
function stoppedInTime(r: { ms: number; lineMs: number }) {
  expect(r.lineMs).toBeLessThan(LINE_MS);
  expect(r.ms).toBeLessThan(STOP_MS);
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
    stoppedInTime(r);
    expect(r.stderr).not.toMatch(/FAILED/);
    expect(r.stdout).toMatch(/^Volumes:/m); // the summary still prints
  });

  it("verify --volume --repair: reading the volume's records, exit 130, the line says nothing was lost", { timeout: 60_000 }, async () => {
    const repo = makeRepo({ id: "acme/fill", files: [{ path: "model.safetensors", size: 1000 }] });
    const h = await hub({ repos: [repo] });
    const s3 = await localS3();
    const home = await tempDir();
    const filled = await runCli(["acme/fill", "--volume", "vol1@EU-RO-1", "--s3-endpoint", s3.url], s3Env(home, h.url));
    expect(filled.code, filled.stderr).toBe(0);
    // The check reads each model's record: that read hangs.
    s3.faults.delayMs.GetObject = 30_000;
    const reads = s3.count("GetObject");
    const r = await interrupt(
      ["verify", "--volume", "vol1@EU-RO-1", "--repair", "--s3-endpoint", s3.url], s3Env(home, h.url), () => s3.count("GetObject") > reads,
    );
    expect(r.stderr).toMatch(/Interrupted \(SIGINT\): stopping the check and repair; what was sent is kept/);
    expect(r.code).toBe(130);
    stoppedInTime(r);
  });

  it("a --volume fill stopped by SIGTERM (a Pod being stopped) exits 143", { timeout: 60_000 }, async () => {
    const repo = makeRepo({ id: "acme/fill", files: [{ path: "model.safetensors", size: 4 * MB }] });
    const h = await hub({ repos: [repo] });
    const s3 = await localS3({ faults: { delayMs: { UploadPart: 30_000 } } });
    const home = await tempDir();
    const r = await interrupt(["acme/fill", "--volume", "vol1@EU-RO-1", "--s3-endpoint", s3.url], s3Env(home, h.url), () => s3.count("UploadPart") > 0, "SIGTERM");
    expect(r.stderr).toMatch(/Interrupted \(SIGTERM\)/);
    expect(r.code).toBe(143);
    stoppedInTime(r);
  });

  it("a --volume fill whose volume is slow to take the holder record away still stops in time", { timeout: 60_000 }, async () => {
    const repo = makeRepo({ id: "acme/fill", files: [{ path: "model.safetensors", size: 4 * MB }] });
    const h = await hub({ repos: [repo] });
    const s3 = await localS3({ faults: { delayMs: { UploadPart: 30_000, DeleteObject: 30_000 } } });
    const home = await tempDir();
    const r = await interrupt(["acme/fill", "--volume", "vol1@EU-RO-1", "--s3-endpoint", s3.url], s3Env(home, h.url), () => s3.count("UploadPart") > 0);
    expect(r.code).toBe(130);
    stoppedInTime(r);
    expect(s3.count("DeleteObject")).toBe(1); // it tried
  });

  it("a download: interrupted models are listed as interrupted, not FAILED; exit 130", { timeout: 60_000 }, async () => {
    const repo = makeRepo({ id: "acme/slow", files: [{ path: "model.safetensors", size: 32 * MB }] });
    const h = await hub({ repos: [repo], bandwidthPerConnection: 2 * MB });
    const root = await tempDir();
    const r = await interrupt(["acme/slow", "--root", root], { HF_ENDPOINT: h.url }, () => h.bytesServed > MB);
    expect(r.code).toBe(130);
    stoppedInTime(r);
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
    stoppedInTime(r);
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
    stoppedInTime(r);
  });

  it("verify --repair: the re-download is stopped, exit 130, the summary prints", { timeout: 60_000 }, async () => {
    const repo = makeRepo({ id: "acme/fix", files: [{ path: "model.safetensors", size: 24 * MB }] });
    const fast = await hub({ repos: [repo] });
    const root = await tempDir();
    expect((await runCli(["acme/fix", "--root", root], { HF_ENDPOINT: fast.url })).code).toBe(0);
    const blob = join(root, "huggingface", "hub", "models--acme--fix", "snapshots");
    const [commit] = await readdir(blob);
    await writeFile(join(blob, commit!, "model.safetensors"), "broken");
    const slow = await hub({ repos: [repo], bandwidthPerConnection: 1 * MB });
    const r = await interrupt(["verify", "--repair", "hf:acme/fix", "--root", root], { HF_ENDPOINT: slow.url }, () => slow.bytesServed > 256 * 1024);
    expect(r.stderr).toMatch(/Interrupted \(SIGINT\): stopping the repair/);
    expect(r.code).toBe(130);
    stoppedInTime(r);
    expect(r.stdout).toMatch(/Summary: /);
  });

  it("prune --yes: waiting for a model another process holds, exit 130; what was removed is printed", { timeout: 60_000 }, async () => {
    const h = await hub({ repos: ["acme/pa", "acme/pb"].map((id) => makeRepo({ id, files: [{ path: "w.bin", size: 1000 }] })) });
    const dir = await tempDir({ "projects/p.ts": `export default { name: "p", models: [{ id: "acme/keep" }] };` });
    const root = join(dir, "root");
    expect((await download(h, root, [hfModel("acme/pa"), hfModel("acme/pb")])).downloaded).toBe(2);
    // acme/pb's gate is held (a download registering, as another process would): the prune waits for it.
    await holdGate(join(root, "huggingface", "hub"), "models--acme--pb");
    const r = await interrupt(["prune", "--yes", "--root", root, "--projects-dir", join(dir, "projects")], {}, (seen) => seen.stdout.includes("models--acme--pa"));
    expect(r.stderr).toMatch(/Interrupted \(SIGINT\): stopping the prune; what was removed stays removed/);
    expect(r.code).toBe(130);
    stoppedInTime(r);
  });

  it("prune --yes: planning, watching a download lease that stopped beating (up to 30 s), exit 130", { timeout: 60_000 }, async () => {
    const h = await hub({ repos: [makeRepo({ id: "acme/pw", files: [{ path: "w.bin", size: 1000 }] })] });
    const dir = await tempDir({ "projects/p.ts": `export default { name: "p", models: [{ id: "acme/keep" }] };` });
    const root = join(dir, "root");
    expect((await download(h, root, [hfModel("acme/pw")])).downloaded).toBe(1);
    // A download on another host whose heartbeat is a minute old: the plan watches it for the stale time.
    const leases = join(root, "huggingface", "hub", ".locks", "download-models", "models--acme--pw");
    const holder = join(leases, "download.0123456789abcdef.lease");
    await mkdir(leases, { recursive: true });
    await writeFile(holder, JSON.stringify({ owner: "another-host:4242:x", beat: 3, at: new Date().toISOString() }));
    await utimes(holder, new Date("2000-01-01"), new Date(Date.now() - 60_000));
    const started = performance.now();
    // Ready once the prune has read the lease (its access time moves), or after 15 s where access times stay put.
    const read = () => statSync(holder).atimeMs > Date.now() - 3_600_000 || performance.now() - started > 15_000;
    const r = await interrupt(["prune", "--yes", "--root", root, "--projects-dir", join(dir, "projects")], {}, read);
    expect(r.stderr).toMatch(/Interrupted \(SIGINT\): stopping the prune/);
    expect(r.code).toBe(130);
    stoppedInTime(r);
  });

  it("bake: waiting for a prune of the download root, exit 130; no records are written", { timeout: 60_000 }, async () => {
    const h = await hub({ repos: [makeRepo({ id: "acme/bk", files: [{ path: "w.bin", size: 1000 }] })] });
    const dir = await tempDir({ "projects/p.ts": `export default { name: "p", models: [{ id: "acme/bk" }] };` });
    const from = join(dir, "cache");
    const to = join(dir, "image");
    expect((await download(h, from, [hfModel("acme/bk")])).downloaded).toBe(1);
    await holdGate(join(from, "huggingface", "hub"), "models--acme--bk");
    const r = await interrupt(["bake", "--all", "--from", from, "--to", to, "--projects-dir", join(dir, "projects")], {}, (seen) => /waiting: a prune/.test(seen.stderr));
    expect(r.stderr).toMatch(/waiting: a prune of .* is removing huggingface acme\/bk@main/);
    expect(r.stderr).toMatch(/Interrupted \(SIGINT\): stopping the bake; .*its records are not written: run bake again/);
    expect(r.code).toBe(130);
    stoppedInTime(r);
    expect(await readdir(join(to, ".download-models")).catch(() => [])).toEqual([]);
  });
});

describe("a second signal quits at once", () => {
  it("a download stuck in a downloader that ignores the signal: the second SIGINT exits 130 at once, no cleanup, nothing partial under a final name", { timeout: 90_000 }, async () => {
    const repo = makeRepo({ id: "acme/big", files: [{ path: "model.safetensors", size: 32 * MB }] });
    const h = await hub({ repos: [repo], bandwidthPerConnection: 2 * MB });
    // A plugin that does not honour the run's signal: the first SIGINT stops the transfer, the run then waits on it.
    const dir = await tempDir({
      "downloaders/stuck.ts": `export default { name: "stuck", async resolve() { await new Promise((r) => setTimeout(r, 60_000)); throw new Error("too late"); } };`,
    });
    const root = join(dir, "root");
    const args = ["acme/big", "stuck:acme/never@v1", "--root", root, "--downloaders-dir", join(dir, "downloaders")];
    let secondAt = 0;
    const r = await interrupt(args, { HF_ENDPOINT: h.url }, () => h.bytesServed > MB, "SIGINT", (child) => {
      // The first stop is under way (the hub transfer aborted) but the run waits for the stuck resolve.
      setTimeout(() => {
        secondAt = performance.now();
        child.kill("SIGINT");
      }, 300);
    });
    const afterSecond = performance.now() - secondAt;
    expect(r.stderr).toMatch(/Interrupted \(SIGINT\): stopping and keeping the partial files/);
    expect(r.stderr).toMatch(/Interrupted again \(SIGINT\): quitting at once without cleanup; nothing half-written is under a final name/);
    expect(r.code).toBe(130);
    expect(secondAt).toBeGreaterThan(0);
    expect(afterSecond).toBeLessThan(STOP_MS);
    // The stuck resolve held the first stop back: only the second signal ended the process.
    expect(r.ms).toBeGreaterThan(250);
    // Nothing under a final name: no blob but the partial file, its resume record and (when the quit came before the
    // first stop released it) its lease, which the next run takes over from a dead process; no snapshot, no manifest.
    const modelDir = join(root, "huggingface", "hub", "models--acme--big");
    const blobs = await readdir(join(modelDir, "blobs")).catch(() => [] as string[]);
    expect(blobs.filter((b) => !/\.incomplete(\.json|\.lock)?$/.test(b))).toEqual([]);
    expect(await readdir(join(modelDir, "snapshots")).catch(() => [])).toEqual([]);
    // The same download (without the stuck plugin) picks up from there.
    const again = await runCli(["acme/big", "--root", root], { HF_ENDPOINT: h.url });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/1 downloaded/);
  });
});
