import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { lstat, readFile, readdir, readlink, realpath, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeRepo } from "@download-models/local-hub";
import { hub } from "../helpers/hub.ts";
import { runMain } from "../helpers/cli.ts";
import { connection, KEYS, localS3 } from "../helpers/s3.ts";
import { tempDir, walk } from "../helpers/tmp.ts";

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
  const hf = hfRepo();
  const h = await hub({ repos: [hf, msRepo()] });
  const s3 = await localS3({ buckets });
  const home = await tempDir();
  const env = {
    HOME: home, XDG_CACHE_HOME: join(home, "cache"), HF_ENDPOINT: h.url, MODELSCOPE_ENDPOINT: h.url,
    RUNPOD_S3_ACCESS_KEY_ID: KEYS.accessKeyId, RUNPOD_S3_SECRET_ACCESS_KEY: KEYS.secretAccessKey, DOWNLOAD_MODELS_S3_PART_MB: "1",
  };
  return { h, hf, s3, home, env };
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const VOL = (s3: { url: string }, ...volumes: string[]) => [...volumes.flatMap((v) => ["--volume", v]), "--s3-endpoint", s3.url];
const writesOf = (s3: import("@download-models/local-hub").LocalS3) =>
  s3.requests.filter((r) => ["PutObject", "UploadPart", "CompleteMultipartUpload", "CreateMultipartUpload"].includes(r.operation));

describe("download-models --volume: a fill over S3, read as a volume", () => {
  it("lays out HF and ModelScope as specified; the copied bucket verifies clean; after `link` it reads like a Pod fill", async () => {
    const { h, hf, s3, home, env } = await setup();
    const fill = await runMain(["acme/tiny-model", MS_ID, ...VOL(s3, "vol1@EU-RO-1")], env);
    expect(fill.stderr).toBe("");
    expect(fill.code).toBe(0);
    expect(fill.stdout).toMatch(/ok +vol1@EU-RO-1: 2 models uploaded \(14 objects, [\d.]+ MB sent\), 0 already complete/);
    expect(fill.stdout).toContain("run `download-models link` once");
    expect(fill.stdout).toContain("export HF_HUB_CACHE=/runpod-volume/models/huggingface/hub");
    expect(s3.count("UploadPart")).toBeGreaterThan(2); // 1 MiB parts: the weights went multipart
    // The staging store is removed after a successful run without --root.
    await expect(lstat(join(home, "cache", "download-models", "staging"))).rejects.toThrow();

    const volume = await tempDir();
    await s3.materialize("vol1", volume);
    expect(await readdir(volume)).toEqual(["models"]);
    const root = join(volume, "models");
    const commit = hf.refs.main!;
    const repoDir = join(root, "huggingface", "hub", "models--acme--tiny-model");
    expect(await readFile(join(repoDir, "refs", "main"), "utf8")).toBe(commit);
    for (const f of hf.commits[0]!.files) {
      const path = join(repoDir, "snapshots", commit, f.path);
      expect((await lstat(path)).isFile()).toBe(true);
      expect(sha256(await readFile(path))).toBe(f.sha256);
    }
    expect(JSON.parse(await readFile(join(repoDir, "trees", `${commit}.json`), "utf8"))).toMatchObject({ format_version: 1 });
    expect((await readdir(repoDir)).sort()).toEqual([".download-models", "refs", "snapshots", "trees"]); // no blobs/
    const ms = join(root, "modelscope");
    const msDir = join(ms, "models", "damo", MASKED);
    expect((await walk(msDir)).sort()).toEqual([".mdl", ".msc", ".mv", "configuration.json", "model.pt", "sub/deep/vocab.txt"]);
    expect((await readdir(ms)).sort()).toEqual([".download-models", "models"]); // no links over S3
    expect((await readdir(join(root, ".download-models", "huggingface", "acme"))).sort()).toEqual(["tiny-model"]);

    const verify = await runMain(["verify", "--root", root], env);
    expect(verify.stdout).toMatch(/Verified 2 models .*2 ok, 0 corrupt, 0 not downloaded/);
    expect(verify.code).toBe(0);

    const link = await runMain(["link", "--root", root], env);
    expect(link.code).toBe(0);
    expect(link.stdout).toMatch(/linked +modelscope:damo\/speech_model.v2: 4 links/);
    // The links a Pod fill makes, relative, resolving to the model directory.
    expect(await readlink(join(ms, "models", "damo", "speech_model.v2"))).toBe(MASKED);
    expect(await readlink(join(ms, "hub", "damo", MASKED))).toBe(`../../models/damo/${MASKED}`);
    expect(await readlink(join(ms, "damo", MASKED))).toBe(`../models/damo/${MASKED}`);
    expect(await readlink(join(ms, "damo", "speech_model.v2"))).toBe(`../models/damo/${MASKED}`);
    expect(await realpath(join(ms, "hub", "damo", MASKED))).toBe(await realpath(msDir));
    expect((await readdir(ms)).sort()).toEqual([".download-models", "damo", "hub", "models"]);
    expect((await runMain(["link", "--root", root], env)).stdout).toMatch(/4 links/); // again: nothing changes

    // A Pod run on the linked volume finds both complete (zero hub requests) and verify stays clean.
    h.resetStats();
    const pod = await runMain(["acme/tiny-model", MS_ID, "--root", root], env);
    expect(pod.stdout).toMatch(/Summary: 0 downloaded, 2 skipped, 0 failed/);
    expect(h.requests).toHaveLength(0);
    expect((await runMain(["verify", "--root", root], env)).code).toBe(0);
  });

  it("re-runs with nothing to download or send in a few requests per model; --root keeps the staging store", async () => {
    const { h, s3, home, env } = await setup();
    const staging = join(home, "staging");
    const args = ["acme/tiny-model", MS_ID, ...VOL(s3, "vol1@EU-RO-1"), "--root", staging];
    expect((await runMain(args, env)).code).toBe(0);
    expect((await readdir(staging)).sort()).toEqual(["huggingface", "modelscope"]);
    h.resetStats();
    s3.resetStats();
    const again = await runMain(args, env);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/on volume +huggingface:acme\/tiny-model@main: complete on every target/);
    expect(again.stdout).toMatch(/ok +vol1@EU-RO-1: 0 models uploaded \(0 objects, 0 B sent\), 2 already complete/);
    expect(h.requests).toHaveLength(0);
    expect(writesOf(s3)).toEqual([]);
    // One HeadBucket; per model the record and one listing (ModelScope: two folders).
    expect(s3.requests.map((r) => r.operation).sort()).toEqual(["GetObject", "GetObject", "HeadBucket", "ListObjectsV2", "ListObjectsV2", "ListObjectsV2"]);

    // Without --root and without the staging store, the same holds: the volume is what counts.
    await rm(staging, { recursive: true });
    h.resetStats();
    s3.resetStats();
    const bare = await runMain(["acme/tiny-model", MS_ID, ...VOL(s3, "vol1@EU-RO-1")], env);
    expect(bare.code).toBe(0);
    expect(h.requests).toHaveLength(0);
    expect(writesOf(s3)).toEqual([]);
  });

  it("--frozen works with --volume: a model the lock lacks is refused before any request to the hub or the volume; a locked fill follows the lock", async () => {
    const { h, s3, home, env } = await setup();
    const lockfile = join(home, "models.lock.json");
    const missing = await runMain(["acme/tiny-model", ...VOL(s3, "vol1@EU-RO-1"), "--frozen", "--lockfile", lockfile], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--frozen: .*models\.lock\.json does not exist/);
    expect(h.requests).toHaveLength(0);
    expect(s3.requests).toHaveLength(0);
    expect((await runMain(["lock", "acme/tiny-model", "--lockfile", lockfile], env)).code).toBe(0);
    h.resetStats();
    const frozen = await runMain(["acme/tiny-model", ...VOL(s3, "vol1@EU-RO-1"), "--frozen", "--lockfile", lockfile], env);
    expect(frozen.code).toBe(0);
    expect(h.requests.filter((r) => r.path.startsWith("/api/"))).toEqual([]); // fetched at the locked commit, no revision request
    expect(frozen.stdout).toMatch(/ok +vol1@EU-RO-1: 1 model uploaded/);
  });

  it("status --volume: per selected model complete or missing on the volume, locked or not, and what nothing declares", async () => {
    const { s3, home, env } = await setup();
    const projects = join(home, "projects");
    const { mkdir } = await import("node:fs/promises");
    await mkdir(projects);
    await writeFile(join(projects, "p.ts"), `export default { name: "p", models: [{ id: "acme/tiny-model" }, { id: "acme/absent" }] };\n`);
    expect((await runMain([MS_ID, "acme/tiny-model", ...VOL(s3, "vol1@EU-RO-1")], env)).code).toBe(0);
    s3.resetStats();
    const r = await runMain(["status", "--projects-dir", projects, ...VOL(s3, "vol1@EU-RO-1")], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^vol1@EU-RO-1:/m);
    expect(r.stdout).toMatch(/huggingface:acme\/tiny-model@main +complete +[\d.]+ MB [0-9a-f]{12} not locked/);
    expect(r.stdout).toMatch(/huggingface:acme\/absent@main +missing +not locked/);
    expect(r.stdout).toMatch(/Not declared by a selected project:\n +modelscope:damo\/speech_model\.v2@master/);
    expect(s3.requests.some((q) => ["PutObject", "UploadPart", "DeleteObject"].includes(q.operation))).toBe(false);
  });

  it("prune --volume lists, then with --yes aborts, multipart uploads a killed run left behind", async () => {
    const { s3, env } = await setup();
    const conn = connection(s3);
    const { CreateMultipartUploadCommand, ListMultipartUploadsCommand } = await import("@aws-sdk/client-s3");
    await conn.client.send(new CreateMultipartUploadCommand({ Bucket: "vol1", Key: "models/huggingface/hub/models--acme--x/snapshots/c/w.bin" }));
    await new Promise((done) => setTimeout(done, 1100));
    const dry = await runMain(["prune", ...VOL(s3, "vol1@EU-RO-1"), "--older-than", "1s"], env);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/would abort +vol1@EU-RO-1: unfinished upload of models\/huggingface\/hub\/models--acme--x\/snapshots\/c\/w\.bin/);
    expect((await conn.client.send(new ListMultipartUploadsCommand({ Bucket: "vol1" }))).Uploads ?? []).toHaveLength(1);
    const yes = await runMain(["prune", ...VOL(s3, "vol1@EU-RO-1"), "--older-than", "1s", "--yes"], env);
    expect(yes.stdout).toMatch(/vol1@EU-RO-1: 1 unfinished upload aborted/);
    expect((await conn.client.send(new ListMultipartUploadsCommand({ Bucket: "vol1" }))).Uploads ?? []).toHaveLength(0);
    conn.client.destroy();
  });

  it("fills two targets at once; one failing mid-way (volume full) does not stop the other; one line per target, exit 1", async () => {
    const { hf, s3, home, env } = await setup();
    const creds = join(home, "aws-credentials");
    await writeFile(creds, `[runpod]\naws_access_key_id = ${KEYS.accessKeyId}\naws_secret_access_key = ${KEYS.secretAccessKey}\n`);
    const commit = hf.refs.main!;
    // Same bucket, another prefix: only the second target's config.json answers 507.
    s3.faults.errors.push({ operation: "PutObject", status: 507, times: 100, key: `other/huggingface/hub/models--acme--tiny-model/snapshots/${commit}/config.json` });
    const r = await runMain(["acme/tiny-model", ...VOL(s3, "vol1@EU-RO-1", "s3://vol1/other"), "--s3-profile", "runpod"], { ...env, AWS_SHARED_CREDENTIALS_FILE: creds });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^  ok +vol1@EU-RO-1: 1 model uploaded/m);
    expect(r.stderr).toMatch(/^  FAILED +s3:\/\/vol1\/other: 0 models uploaded .*1 failed \(volume full: nothing more was sent to it\)/m);
    expect(r.stderr).toMatch(/Volume s3:\/\/vol1\/other is full \(507 Insufficient Storage while writing other\/huggingface/);
    const lines = (r.stdout + r.stderr).split("\n").filter((l) => /^  (ok|FAILED) /.test(l));
    expect(lines).toHaveLength(2);
    const keys = [...s3.store.buckets.get("vol1")!.keys()];
    expect(keys).toContain("models/.download-models/huggingface/acme/tiny-model/main.json");
    expect(keys.some((k) => k.startsWith("other/.download-models/"))).toBe(false);
  });

  it("checks every target before downloading: an unusable one is reported, the other filled, exit 1", async () => {
    const { h, s3, env } = await setup();
    const r = await runMain(["acme/tiny-model", ...VOL(s3, "vol1@EU-RO-1", "nope123@EU-RO-1")], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--volume nope123@EU-RO-1: no network volume nope123 in EU-RO-1 .*this target is skipped/);
    expect(r.stdout).toMatch(/ok +vol1@EU-RO-1: 1 model uploaded/);
    expect(r.stderr).toMatch(/FAILED +nope123@EU-RO-1: not usable, nothing sent/);
    expect(h.requests.length).toBeGreaterThan(0);
  });
});

describe("volume commands", () => {
  it("list --volume shows what the volume holds per project; verify --volume names the model and file of each bad object; --repair sends only those", async () => {
    const { s3, env } = await setup();
    expect((await runMain(["acme/tiny-model", MS_ID, ...VOL(s3, "vol1@EU-RO-1")], env)).code).toBe(0);
    const list = await runMain(["list", ...VOL(s3, "vol1@EU-RO-1")], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^vol1@EU-RO-1:\n  \(command line\)\n    huggingface:acme\/tiny-model@main \([0-9a-f]{10}\)  3 files, 2\.22 MB\n    modelscope:damo\/speech_model\.v2@master/m);
    expect(list.stdout).toMatch(/  2 models, 5\.37 MB/);

    const clean = await runMain(["verify", ...VOL(s3, "vol1@EU-RO-1")], env);
    expect(clean.code).toBe(0);
    expect(clean.stdout).toMatch(/2 ok, 0 bad/);
    expect(s3.requests.filter((r) => r.operation === "GetObject" && !r.key.includes(".download-models/"))).toEqual([]); // no data read

    await s3.store.deleteObject("vol1", `models/modelscope/models/damo/${MASKED}/model.pt`);
    const bad = await runMain(["verify", ...VOL(s3, "vol1@EU-RO-1")], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/BAD +modelscope:damo\/speech_model.v2@master on vol1@EU-RO-1: 1 object\n +model\.pt is missing$/m);
    expect(bad.stdout).toMatch(/1 ok, 1 bad\. Run again with --repair/);

    s3.resetStats();
    const repair = await runMain(["verify", "--repair", ...VOL(s3, "vol1@EU-RO-1")], env);
    expect(repair.code).toBe(0);
    // Holder records (a fill announcing itself on the volume) are not model objects.
    const sent = s3.requests.filter((r) => r.status === 200 && ["PutObject", "CompleteMultipartUpload"].includes(r.operation) && !r.key.includes("/holders/")).map((r) => r.key);
    // The same bytes get the same ETag: the record already says so and is not written again.
    expect(sent).toEqual([`models/modelscope/models/damo/${MASKED}/model.pt`]);
    expect((await runMain(["verify", ...VOL(s3, "vol1@EU-RO-1")], env)).code).toBe(0);
  });

  it("--modelscope-compat=copy puts full copies where old readers look; --dry-run states the disk needed and writes nothing", async () => {
    const { h, s3, home, env } = await setup();
    const dry = await runMain([MS_ID, "acme/tiny-model", ...VOL(s3, "vol1@EU-RO-1"), "--dry-run"], env);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/Disk needed on this machine: 5\.37 MB more in .*staging \(the models to upload, 5\.37 MB in all\); up to 5\.37 MB to send to each of 1 target/);
    expect(writesOf(s3)).toEqual([]);
    await expect(lstat(join(home, "cache", "download-models", "staging", "modelscope", "models"))).rejects.toThrow();
    void h;

    const r = await runMain([MS_ID, ...VOL(s3, "vol1@EU-RO-1"), "--modelscope-compat=copy"], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("modelscope 1.12–1.22 and ≤ 1.11 by id (full copies were uploaded)");
    expect(r.stdout).not.toContain("run `download-models link`");
    const volume = await tempDir();
    await s3.materialize("vol1", volume);
    const ms = join(volume, "models", "modelscope");
    for (const dir of [join(ms, "hub", "damo", MASKED), join(ms, "damo", MASKED), join(ms, "damo", "speech_model.v2")]) {
      expect((await lstat(dir)).isDirectory()).toBe(true);
      expect((await walk(dir)).sort()).toEqual([".mdl", ".msc", ".mv", "configuration.json", "model.pt", "sub/deep/vocab.txt"]);
    }
    // link leaves the real copies alone and adds only the dotted-name link.
    const link = await runMain(["link", "--root", join(volume, "models")], env);
    expect(link.stdout).toMatch(/1 link \(models\/damo\/speech_model\.v2\)/);
    expect(link.stdout).toMatch(/left real folders alone/);
    expect((await runMain(["verify", ...VOL(s3, "vol1@EU-RO-1")], env)).code).toBe(0);
  });

  it("--json prints upload events and a volume summary last, nothing else", async () => {
    const { s3, env } = await setup();
    const r = await runMain(["acme/tiny-model", ...VOL(s3, "vol1@EU-RO-1"), "--json"], env);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { type: string; targets?: { target: string; ok: boolean }[] });
    expect(events.some((e) => e.type === "upload-done")).toBe(true);
    expect(events.some((e) => e.type === "model-uploaded")).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: "volume-summary", targets: [{ target: "vol1@EU-RO-1", ok: true, uploaded: 1 }] });
  });
});

describe("bad input: exit 2 before anything is downloaded", () => {
  const cases: [string, (s3: { url: string }) => string[], Record<string, string>, RegExp, object?][] = [
    ["a volume without an id", (s3) => VOL(s3, "@EU-RO-1"), {}, /the network volume id before "@" is missing or malformed/],
    ["a datacenter that is not one", (s3) => VOL(s3, "vol1@nowhere"), {}, /"nowhere" does not look like a RunPod datacenter id \(letters-letters-digits/],
    ["neither form", (s3) => VOL(s3, "vol1"), {}, /is neither VOLUME_ID@DATACENTER/],
    ["no credentials", (s3) => VOL(s3, "vol1@EU-RO-1"), { RUNPOD_S3_ACCESS_KEY_ID: "", RUNPOD_S3_SECRET_ACCESS_KEY: "" }, /set RUNPOD_S3_ACCESS_KEY_ID and RUNPOD_S3_SECRET_ACCESS_KEY/],
    ["an unknown access key", (s3) => VOL(s3, "vol1@EU-RO-1"), { RUNPOD_S3_ACCESS_KEY_ID: "user_wrong" }, /access key is unknown .*check RUNPOD_S3_ACCESS_KEY_ID/],
    ["a wrong secret", (s3) => VOL(s3, "vol1@EU-RO-1"), { RUNPOD_S3_SECRET_ACCESS_KEY: "rps_wrongwrongwrong" }, /secret does not match the access key: check RUNPOD_S3_SECRET_ACCESS_KEY/],
    ["a volume that does not exist", (s3) => VOL(s3, "zzz999@EU-RO-1"), {}, /no network volume zzz999 in EU-RO-1/],
    ["an unreachable endpoint", () => ["--volume", "vol1@EU-RO-1", "--s3-endpoint", "http://127.0.0.1:9"], {}, /cannot reach http:\/\/127\.0\.0\.1:9 \(ECONNREFUSED\)/],
    ["a clock far off", (s3) => VOL(s3, "vol1@EU-RO-1"), {}, /your clock is off the volume's server by more than it allows: fix the clock \(NTP\)/, { clockOffsetMs: 2 * 3_600_000, advertiseClock: false }],
    ["an endpoint that is not http(s)", () => ["--volume", "vol1@EU-RO-1", "--s3-endpoint", "ftp://x"], {}, /must start with http:\/\/ or https:\/\//],
    ["an unknown --modelscope-compat", (s3) => [...VOL(s3, "vol1@EU-RO-1"), "--modelscope-compat", "link"], {}, /--modelscope-compat takes "copy"/],
    ["a bad part size", (s3) => VOL(s3, "vol1@EU-RO-1"), { DOWNLOAD_MODELS_S3_PART_MB: "0.5" }, /DOWNLOAD_MODELS_S3_PART_MB="0.5" must be a whole number/],
    ["--s3-endpoint without --volume", (s3) => ["--s3-endpoint", s3.url], {}, /go with --volume/],
  ];
  for (const [name, args, extraEnv, message, server] of cases) {
    it(name, async () => {
      const h = await hub({ repos: [hfRepo()] });
      const s3 = await localS3(server ?? {});
      const home = await tempDir();
      const env = {
        HOME: home, XDG_CACHE_HOME: join(home, "cache"), HF_ENDPOINT: h.url,
        RUNPOD_S3_ACCESS_KEY_ID: KEYS.accessKeyId, RUNPOD_S3_SECRET_ACCESS_KEY: KEYS.secretAccessKey, DOWNLOAD_MODELS_S3_PART_MB: "1", ...extraEnv,
      };
      const r = await runMain(["acme/tiny-model", ...args(s3)], env);
      expect(r.stderr).toMatch(message);
      expect(r.code).toBe(2);
      expect(h.requests).toHaveLength(0);
      expect(r.stderr).not.toContain(KEYS.secretAccessKey);
    });
  }
});
