import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { makeRepo, type HubRepo } from "@download-models/local-hub";
import { hub } from "../helpers/hub.ts";
import { runMain } from "../helpers/cli.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const SCRIPT = join(ROOT, "build-serverless.sh");
const CI_BUILD = join(ROOT, "test", "serverless", "ci-build.sh");
const PROJECTS = join(ROOT, "test", "serverless", "projects");
const KB = 1000;
const MiB = 1024 * 1024;

/** The environment without tokens, endpoints or RunPod variables of whoever runs the tests. */
const cleanEnv = () =>
  Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(HF_|HUGGING|MODELSCOPE|RUNPOD_|DOWNLOAD_MODELS_)/.test(k))) as Record<string, string>;

function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(cmd, args, { env: { ...cleanEnv(), ...env }, encoding: "utf8" });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe("build-serverless.sh without building", () => {
  it("prints docker and podman command lines a user can run elsewhere, with secrets as file paths only", () => {
    const token = `hf_dry_${randomBytes(8).toString("hex")}`;
    const docker = run(SCRIPT, ["--dry-run", "--builder", "docker", "myuser"], { HF_TOKEN: token });
    expect(docker.code, docker.stderr).toBe(0);
    const dockerCmd = docker.stdout.split("\n").find((l) => l.startsWith("docker "));
    expect(dockerCmd).toMatch(/^docker buildx build --load .*--platform linux\/amd64 -f \S+\/Dockerfile.serverless -t myuser\/runpod-models:\S+ /);
    expect(dockerCmd).toMatch(/--secret id=hf_token,src=\S+\/hf_token /);
    expect(docker.stdout + docker.stderr).not.toContain(token);

    const podman = run(SCRIPT, ["--dry-run", "--builder", "podman", "--project", "tts", "--push", "myuser", "v3"]);
    expect(podman.code, podman.stderr).toBe(0);
    expect(podman.stdout).toMatch(/^podman build --layers .*-t docker\.io\/myuser\/runpod-models:v3 .*--build-arg PROJECTS=tts /m);
    expect(podman.stdout).toMatch(/^podman push docker\.io\/myuser\/runpod-models:v3$/m);
    expect(podman.stdout).not.toContain("--secret"); // no token anywhere: public models only
  });

  it("fails with a clear message and its own exit code", () => {
    const unknown = run(SCRIPT, ["--dry-run", "--builder", "docker", "--project", "tts,nope", "myuser"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown project "nope"; available: speaker-diarization, tts');
    const tokenArg = run(SCRIPT, ["--dry-run", "--builder", "docker", "--build-arg", "HF_TOKEN=x", "myuser"]);
    expect(tokenArg.code).toBe(2);
    expect(tokenArg.stderr).toContain("pass tokens with --hf-token-file");
    expect(run(SCRIPT, ["--dry-run", "--builder", "docker"]).code).toBe(2); // no image name
  });

  it("builds from the lockfile beside the projects folder, and refuses one that does not pin the selection, before building", async () => {
    const dir = await mkdtemp(join(tmpdir(), "dm-lock-build-"));
    try {
      const projects = join(dir, "projects");
      await mkdir(projects);
      for (const f of await readdir(PROJECTS)) await writeFile(join(projects, f), await readFile(join(PROJECTS, f)));
      const entry = (id: string, revision = "main", source = "huggingface", include: string[] = []) =>
        ({ source, id, revision, include, exclude: [], commit: "a".repeat(40), projects: ["ci-voice"], files: [] });
      await writeFile(join(dir, "models.lock.json"), JSON.stringify({ lockfileVersion: 1, models: [entry("dm-ci/tiny-voice")] }));
      const refused = run(SCRIPT, ["--dry-run", "--builder", "docker", "--projects-dir", projects, "--project", "ci-voice", "myuser"]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(`--frozen: the selection does not match ${join(dir, "models.lock.json")} (1 model):\n  - hf:dm-ci/multi-format@v1.0: not in the lock`);
      expect(refused.stderr).toContain("  download-models lock --project ci-voice");
      const models = [entry("dm-ci/tiny-voice"), entry("dm-ci/multi-format", "v1.0", "huggingface", ["*.json", "*.safetensors"])];
      await writeFile(join(dir, "models.lock.json"), JSON.stringify({ lockfileVersion: 1, models }));
      const ok = run(SCRIPT, ["--dry-run", "--builder", "docker", "--projects-dir", projects, "--project", "ci-voice", "myuser"]);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toContain(`# lockfile ${join(dir, "models.lock.json")} is copied to ${ROOT}/.build-serverless/projects/models.lock.json: the download runs --frozen`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("says so when no builder is installed (exit 3)", async () => {
    // A PATH with only what the script needs before it looks for a builder.
    const dir = await mkdtemp(join(tmpdir(), "dm-no-builder-"));
    try {
      for (const tool of ["dirname", "git", "date"]) {
        const found = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim();
        if (found) await symlink(found, join(dir, tool));
      }
      const r = run("/bin/bash", [SCRIPT, "myuser"], { PATH: dir });
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toContain("no image builder found: install Docker (with buildx), podman or buildah");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses docker without buildx, since it cannot pass secrets (exit 4)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "dm-fake-docker-"));
    try {
      // A docker CLI without the buildx plugin, as on this kind of machine: `docker buildx` is an unknown command.
      await writeFile(join(dir, "docker"), '#!/bin/sh\necho "docker: unknown command: docker $1" >&2\nexit 1\n');
      await chmod(join(dir, "docker"), 0o755);
      const r = run(SCRIPT, ["--builder", "docker", "myuser"], { PATH: `${dir}:${process.env.PATH}` });
      expect(r.code).toBe(4);
      expect(r.stderr).toContain("no buildx");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

function prerequisites(): string | undefined {
  if (process.platform !== "linux") return "needs Linux";
  if (process.getuid?.() !== 0) return "needs root (buildah with chroot isolation, debootstrap)";
  for (const tool of ["buildah", "debootstrap"]) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) return `${tool} is not installed (.ci/run installs it from Debian's archive)`;
  }
  return undefined;
}

function ciRepos(): HubRepo[] {
  return [
    makeRepo({
      id: "dm-ci/tiny-voice",
      files: [
        { path: "config.json", text: '{ "model_type": "tiny-voice" }\n' },
        { path: "tokenizer.json", size: 60 * KB, lfs: false },
        { path: "model.safetensors", size: 20 * MiB }, // over 16 MiB: parallel ranges inside the build
        { path: "onnx/model.onnx", size: 900 * KB },
      ],
    }),
    makeRepo({
      id: "dm-ci/multi-format",
      tags: ["v1.0"],
      files: [
        { path: "config.json", text: '{ "model_type": "multi-format" }\n' },
        { path: "model.safetensors", size: 800 * KB },
        { path: "pytorch_model.bin", size: 800 * KB },
      ],
    }),
    makeRepo({
      id: "dm-ci/gated-speaker",
      access: "gated",
      files: [
        { path: "config.json", text: '{ "model_type": "speaker" }\n' },
        { path: "embedding.bin", size: 400 * KB },
      ],
    }),
    makeRepo({
      source: "modelscope",
      id: "dm-ci/sv_model.v2",
      access: "private",
      files: [
        { path: "configuration.json", text: '{ "task": "speaker-verification" }\n' },
        { path: "campplus.bin", size: 2 * MiB }, // redirected to the CDN: the token must not follow
      ],
    }),
    makeRepo({ id: "dm-ci/not-baked", files: [{ path: "weights.bin", size: 100 * KB }] }),
    makeRepo({ id: "dm-ci/private-extra", access: "private", files: [{ path: "weights.bin", size: 100 * KB }] }),
  ];
}

function runScript(env: Record<string, string>): Promise<{ code: number; output: string }> {
  return new Promise((done, fail) => {
    const child = spawn("bash", [CI_BUILD], { env: { ...cleanEnv(), ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("error", fail);
    child.on("exit", (code) => done({ code: code ?? -1, output }));
  });
}

describe("serverless image, built for real", () => {
  it("bakes the selected projects with buildah; in the image every model is present and verified, the token nowhere", { timeout: 20 * 60_000 }, async (ctx) => {
    const missing = prerequisites();
    if (missing && process.env.DOWNLOAD_MODELS_IMAGE_TEST === "required") throw new Error(`serverless image build required here, but ${missing}`);
    if (missing) return ctx.skip(`serverless image build: ${missing}`);
    // CI builds the image once, in the run on the machine's Node; the runs on other Node lines skip it.
    if (process.env.DOWNLOAD_MODELS_IMAGE_TEST === "skip") return ctx.skip("serverless image build: DOWNLOAD_MODELS_IMAGE_TEST=skip");

    const token = `hf_ci_${randomBytes(16).toString("hex")}`;
    const repos = ciRepos();
    const msToken = `ms_ci_${randomBytes(16).toString("hex")}`;
    const h = await hub({ repos, tokens: [token, msToken] });
    const work = await mkdtemp(join(tmpdir(), "dm-serverless-ci-"));
    ctx.onTestFinished(() => rm(work, { recursive: true, force: true }));
    const tokenFile = join(work, "hf_token");
    await writeFile(tokenFile, token, { mode: 0o600 });
    const msTokenFile = join(work, "ms_token");
    await writeFile(msTokenFile, msToken, { mode: 0o600 });

    const started = performance.now();
    const { code, output } = await runScript({
      WORK: join(work, "ci"), HF_ENDPOINT: h.url, HF_TOKEN_FILE: tokenFile, MODELSCOPE_ENDPOINT: h.url, MS_TOKEN_FILE: msTokenFile,
      PROJECTS_DIR: PROJECTS, NODE_BIN: process.execPath,
    });
    const seconds = ((performance.now() - started) / 1000).toFixed(0);
    if (process.env.SERVERLESS_CI_LOG) await writeFile(process.env.SERVERLESS_CI_LOG, output); // the whole log, for debugging
    const lines = output.split("\n");
    const summary = lines.slice(lines.findIndex((l) => l.startsWith("Image:")), lines.findIndex((l) => l.startsWith("Not pushed")) + 1);
    const results = lines.filter((l) => /^(RESULT |CHECK |== \[)/.test(l));
    console.log(`serverless image test: ${seconds}s in all\n${[...results, ...summary].join("\n")}`);
    expect(code, output.split("\n").slice(-60).join("\n")).toBe(0);
    expect(output).toContain("ALL OK");
    expect(output).not.toContain(token);
    expect(output).not.toContain(msToken);

    // The token reached the build (the gated model needs it) and was sent to the hub only.
    const gated = h.requests.filter((r) => r.path.includes("dm-ci/gated-speaker"));
    expect(gated.some((r) => r.authorization === `Bearer ${token}` && r.status === 200)).toBe(true);
    // The build without a token asked for the private model without one and got nothing.
    const privateReqs = h.requests.filter((r) => r.path.includes("dm-ci/private-extra"));
    expect(privateReqs.length).toBeGreaterThan(0);
    expect(privateReqs.every((r) => r.authorization === undefined && r.status >= 400)).toBe(true);
    expect(h.requests.some((r) => r.path.includes("dm-ci/not-baked"))).toBe(false);
    // The ModelScope token went to the API host as cookie and bearer, and never to the CDN it redirects to.
    const msReqs = h.requests.filter((r) => r.path.includes("/api/v1/models/dm-ci/sv_model.v2"));
    expect(msReqs.some((r) => r.cookie === `m_session_id=${msToken}` && r.status === 200)).toBe(true);
    expect(h.requests.filter((r) => r.server === "cdn").every((r) => r.cookie === undefined && r.authorization === undefined)).toBe(true);

    // The image's /models, copied out with its symlinks: the tool itself finds every selected model complete.
    const models = join(work, "ci", "image-models");
    const verify = await runMain(["verify", "--root", models, "--project", "ci-voice,ci-gated", "--projects-dir", PROJECTS]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toContain("Verified 4 models");
    expect(verify.stdout).toContain("4 ok, 0 corrupt");
    // Built from a lockfile: the image records the entries of what it baked, at the commits the hub had.
    const bakedLock = JSON.parse(await readFile(join(models, ".download-models", "lock.json"), "utf8")) as { models: { id: string; commit: string }[] };
    expect(bakedLock.models.map((m) => m.id).sort()).toEqual(["dm-ci/gated-speaker", "dm-ci/multi-format", "dm-ci/sv_model.v2", "dm-ci/tiny-voice"]);
    expect(bakedLock.models.find((m) => m.id === "dm-ci/tiny-voice")!.commit).toBe(repos[0]!.refs.main);

    // The HuggingFace cache layout transformers reads offline: refs → commit, snapshot links → blobs.
    const hubDir = join(models, "huggingface", "hub");
    expect((await readdir(hubDir)).filter((d) => d.startsWith("models--")).sort()).toEqual([
      "models--dm-ci--gated-speaker", "models--dm-ci--multi-format", "models--dm-ci--tiny-voice",
    ]);
    const sums = new Map(
      (await readFile(join(models, ".download-models", "SHA256SUMS"), "utf8")).trim().split("\n").map((l) => {
        const [sha, path] = [l.slice(0, 64), l.slice(66)];
        return [path, sha] as const;
      }),
    );
    const expectSnapshot = async (repo: HubRepo, ref: string, paths: string[]) => {
      const dir = join(hubDir, `models--${repo.id.replace("/", "--")}`);
      const commit = repo.refs[ref]!;
      expect(await readFile(join(dir, "refs", ref), "utf8")).toBe(commit);
      const snapshot = join(dir, "snapshots", commit);
      for (const path of paths) {
        const link = join(snapshot, path);
        expect((await lstat(link)).isSymbolicLink()).toBe(true);
        const target = await readlink(link);
        expect(target.startsWith("../")).toBe(true); // relative: the same tree works wherever it is mounted
        expect(resolve(dirname(link), target).startsWith(join(dir, "blobs") + "/")).toBe(true);
        const file = repo.commits[0]!.files.find((f) => f.path === path)!;
        expect(sums.get(`huggingface/hub/models--${repo.id.replace("/", "--")}/snapshots/${commit}/${path}`)).toBe(file.sha256);
      }
    };
    const [voice, multi, gatedRepo] = repos as [HubRepo, HubRepo, HubRepo];
    await expectSnapshot(voice, "main", ["config.json", "tokenizer.json", "model.safetensors", "onnx/model.onnx"]);
    await expectSnapshot(multi, "v1.0", ["config.json", "model.safetensors"]);
    await expectSnapshot(gatedRepo, "main", ["config.json", "embedding.bin"]);
    expect(existsSync(join(hubDir, "models--dm-ci--multi-format", "snapshots", multi.refs["v1.0"]!, "pytorch_model.bin"))).toBe(false);
    expect(sums.size).toBe(10);

    // The ModelScope cache every modelscope version reads offline: files, markers, relative links.
    const msDir = join(models, "modelscope", "models", "dm-ci", "sv_model___v2");
    const msRepo = repos[3]!;
    for (const file of msRepo.commits[0]!.files) {
      expect(sums.get(`modelscope/models/dm-ci/sv_model___v2/${file.path}`)).toBe(file.sha256);
      expect((await lstat(join(msDir, file.path))).isFile()).toBe(true);
    }
    for (const marker of [".msc", ".mdl", ".mv"]) expect((await lstat(join(msDir, marker))).size).toBeGreaterThan(0);
    expect(await readlink(join(models, "modelscope", "models", "dm-ci", "sv_model.v2"))).toBe("sv_model___v2");
    expect(await readlink(join(models, "modelscope", "hub", "dm-ci", "sv_model___v2"))).toBe("../../models/dm-ci/sv_model___v2");

    const baked = await readFile(join(models, ".download-models", "baked.txt"), "utf8");
    expect(baked).toMatch(/^# projects: ci-voice,ci-gated$/m);
    expect(baked).toContain(`huggingface dm-ci/gated-speaker main ${gatedRepo.refs.main} 2 `);
    expect(baked).toMatch(/^modelscope dm-ci\/sv_model\.v2 master [0-9a-f]{40} 2 \d+ modelscope\/models\/dm-ci\/sv_model___v2$/m);
  });
});
