import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createServer, connect, type Server } from "node:net";
import { readFile, readdir, writeFile, mkdir, readlink, stat } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { makeRepo, type HubRepo } from "../../local-hub/index.ts";
import { hub } from "../helpers/hub.ts";
import { runCli } from "../helpers/cli.ts";
import { tempDir } from "../helpers/tmp.ts";
import { haveTools, startRegistry, startTokenService, storedBlobs } from "../helpers/oci-registry.ts";
import { normaliseEntries, layerTar } from "../../src/image/tar.ts";
import { parseChallenges, parseImageRef, RegistryClient } from "../../src/image/registry.ts";

const TOOLS = haveTools("docker-registry", "skopeo", "umoci");
const required = process.env.DOWNLOAD_MODELS_IMAGE_TEST === "required";

/** A child process without blocking this process (the token service of a test answers from here). */
function shAsync(cmd: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("exit", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

function sh(cmd: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A TCP proxy in front of the registry that counts the bytes clients send through it. */
async function countingProxy(targetPort: number): Promise<{ port: number; sent: () => number; reset: () => void }> {
  let sent = 0;
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    client.on("data", (d: Buffer) => (sent += d.length));
    client.pipe(upstream).pipe(client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  onTestFinished(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as { port: number }).port, sent: () => sent, reset: () => (sent = 0) };
}

const repos = (seed: string): HubRepo[] => [
  makeRepo({ id: "acme/voice", files: [{ path: "config.json", text: '{"a":1}\n' }, { path: "model.safetensors", size: 200_000, seed }] }),
  makeRepo({ id: "acme/" + "x".repeat(90), files: [{ path: "deep/" + "n".repeat(120) + ".bin", size: 3000 }] }),
  makeRepo({ source: "modelscope", id: "iic/vad.v2", files: [{ path: "configuration.json", text: "{}\n" }, { path: "model.pt", size: 50_000 }] }),
];

const PROJECT = `export default { name: "demo", models: [{ id: "acme/voice" }, { id: "acme/${"x".repeat(90)}" }, { source: "modelscope", id: "iic/vad.v2" }] };`;

describe("tar layers", () => {
  it("are the same bytes whatever the input order, with parents first, fixed headers and PAX only for long names", async () => {
    const dir = await tempDir({ "a.bin": "hello", "b.bin": "world!" });
    const a = normaliseEntries([
      { type: "file", name: "models/z/b.bin", size: 6, path: join(dir, "b.bin") },
      { type: "symlink", name: "models/z/link", target: "b.bin" },
      { type: "file", name: `models/${"d".repeat(120)}/a.bin`, size: 5, path: join(dir, "a.bin") },
    ]);
    const b = normaliseEntries([...a].reverse());
    const bytes = async (entries: typeof a) => {
      const chunks: Buffer[] = [];
      for await (const c of layerTar(entries, 1)) chunks.push(c);
      return Buffer.concat(chunks);
    };
    const [x, y] = [await bytes(a), await bytes(b)];
    expect(x.equals(y)).toBe(true);
    expect(a.map((e) => e.name)).toEqual([`models/`, `models/${"d".repeat(120)}/`, `models/${"d".repeat(120)}/a.bin`, "models/z/", "models/z/b.bin", "models/z/link"]);
    const tarList = spawnSync("tar", ["--numeric-owner", "--full-time", "-tvf", "-"], { input: x, encoding: "utf8" });
    expect(tarList.status).toBe(0);
    expect(tarList.stdout).toMatch(/^drwxr-xr-x 0\/0 +0 1970-01-01 00:00:01 models\/$/m);
    expect(tarList.stdout).toMatch(/^-rw-r--r-- 0\/0 +6 1970-01-01 00:00:01 models\/z\/b.bin$/m);
    expect(tarList.stdout).toMatch(/^lrwxrwxrwx 0\/0 +0 1970-01-01 00:00:01 models\/z\/link -> b.bin$/m);
    expect(x.length % 512).toBe(0);
    expect(() => normaliseEntries([{ type: "symlink", name: "models/.wh.x", target: "y" }])).toThrow(/whiteout/);
    expect(() => normaliseEntries([{ type: "symlink", name: "models/../x", target: "y" }])).toThrow(/not a plain relative path/);
  });

  it("parses registry challenges with quoted, comma-holding scopes", () => {
    expect(parseChallenges(['Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push repository:c:pull"'])).toEqual([
      { scheme: "bearer", params: { realm: "https://auth.example/token", service: "reg", scope: "repository:a/b:pull,push repository:c:pull" } },
    ]);
    expect(parseChallenges(['Basic realm="test-realm"'])).toEqual([{ scheme: "basic", params: { realm: "test-realm" } }]);
  });
});

describe("registry references and transport", () => {
  it("expands Docker Hub names and speaks plain HTTP only to loopback or with --insecure", async () => {
    expect(parseImageRef("ubuntu")).toEqual({ host: "registry-1.docker.io", repository: "library/ubuntu", tag: "latest" });
    expect(parseImageRef("ghcr.io/you/models:v1")).toEqual({ host: "ghcr.io", repository: "you/models", tag: "v1" });
    expect(parseImageRef("localhost:5000/a/b")).toEqual({ host: "localhost:5000", repository: "a/b", tag: "latest" });
    expect(() => parseImageRef("ghcr.io/You/Models:v1")).toThrow(/not a valid repository name/);
    const clients = [
      new RegistryClient({ host: "registry.example:5000", scopes: [] }),
      new RegistryClient({ host: "registry.example:5000", scopes: [], insecure: true }),
      new RegistryClient({ host: "127.0.0.1:5000", scopes: [] }),
    ];
    expect(clients.map((c) => c.base)).toEqual(["https://registry.example:5000", "http://registry.example:5000", "http://127.0.0.1:5000"]);
    await Promise.all(clients.map((c) => c.close()));
  });
});

describe.skipIf(!TOOLS && !required)("download-models image against a real registry", () => {
  it("pushes one layer per model, reproducible across two clean caches; re-push sends no layer, a changed model one", { timeout: 240_000 }, async () => {
    expect(TOOLS, "docker-registry, skopeo and umoci are installed (.ci/run installs them)").toBe(true);
    const h = await hub({ repos: repos("voice-v1") });
    const dir = await tempDir({ "projects/demo.ts": PROJECT });
    const projects = join(dir, "projects");
    const reg = await startRegistry({}, { relativeUrls: true });
    onTestFinished(() => reg.stop());
    const proxy = await countingProxy(Number(reg.host.split(":")[1]));
    const ref = `127.0.0.1:${proxy.port}/test/models:v1`;
    const env = { HF_ENDPOINT: h.url, MODELSCOPE_ENDPOINT: h.url, HOME: dir, SOURCE_DATE_EPOCH: "1700000000" };

    const lock = await runCli(["lock", "--all", "--projects-dir", projects, "--lockfile", join(dir, "locks", "models.lock.json")], env);
    expect(lock.code, lock.stderr).toBe(0);
    const first = await runCli(["image", "--all", "--frozen", "--lockfile", join(dir, "locks", "models.lock.json"), "--root", join(dir, "cacheA"), "--projects-dir", projects, "--push", ref], env);
    expect(first.code, first.stderr + first.stdout).toBe(0);
    expect(first.stdout).toMatch(/3 model layers \(models only\); 5 blobs sent, 0 reused/);
    expect(first.stdout).toMatch(/^RunPod model reference: https:\/\/huggingface\.co\/acme\/voice:[0-9a-f]{40}$/m);
    const digest = first.stdout.match(/@(sha256:[0-9a-f]{64}):/)![1]!;

    // An independent client reads it: the stored manifest is ours byte for byte, one layer per model + records.
    const raw = sh("skopeo", ["inspect", "--tls-verify=false", "--raw", `docker://${reg.host}/test/models:v1`]);
    expect(raw.code, raw.stderr).toBe(0);
    expect(`sha256:${createHash("sha256").update(raw.stdout).digest("hex")}`).toBe(digest);
    const manifest = JSON.parse(raw.stdout) as { layers: { mediaType: string; annotations?: Record<string, string> }[] };
    expect(manifest.layers.map((l) => l.annotations?.["org.opencontainers.image.title"])).toEqual([
      "huggingface/hub/models--acme--voice",
      `huggingface/hub/models--acme--${"x".repeat(90)}`,
      "modelscope/models/iic/vad___v2",
      undefined,
    ]);
    expect(new Set(manifest.layers.map((l) => l.mediaType))).toEqual(new Set(["application/vnd.oci.image.layer.v1.tar"]));
    const config = JSON.parse(sh("skopeo", ["inspect", "--tls-verify=false", "--config", `docker://${reg.host}/test/models:v1`]).stdout) as { config: { Env: string[] }; created: string };
    expect(config.config.Env).toEqual(expect.arrayContaining(["HF_HUB_CACHE=/models/huggingface/hub", "HF_HUB_OFFLINE=1", "MODELSCOPE_CACHE=/models/modelscope"]));
    expect(config.created).toBe("2023-11-14T22:13:20Z");

    // Pulled back and unpacked by skopeo + umoci: this tool's verify and the in-image check pass on the rootfs.
    const oci = join(dir, "pulled");
    const copy = sh("skopeo", ["copy", "--src-tls-verify=false", "--dest-oci-accept-uncompressed-layers", `docker://${reg.host}/test/models:v1`, `oci:${oci}:v1`]);
    expect(copy.code, copy.stderr).toBe(0);
    const bundle = join(dir, "bundle");
    const unpack = sh("umoci", ["unpack", "--rootless", "--image", `${oci}:v1`, bundle]);
    expect(unpack.code, unpack.stderr).toBe(0);
    const rootfs = join(bundle, "rootfs", "models");
    expect(await readlink(join(rootfs, "modelscope", "models", "iic", "vad.v2"))).toBe("vad___v2");
    const verify = await runCli(["verify", "--all", "--root", rootfs, "--projects-dir", projects], env);
    expect(verify.stdout + verify.stderr).toContain("3 ok, 0 corrupt");
    expect(verify.code).toBe(0);
    const check = sh("sh", [join(rootfs, ".download-models", "download-models-check")], {
      DOWNLOAD_MODELS_DIR: rootfs, HF_HOME: join(rootfs, "huggingface"), MODELSCOPE_CACHE: join(rootfs, "modelscope"),
    });
    expect(check.stdout + check.stderr).toMatch(/3 model\(s\) baked into/);
    expect(check.stdout).toContain("locked");
    expect(check.code, check.stdout + check.stderr).toBe(0);
    // A ModelScope consumer on a read-only mount loads the model directory itself (no cache writes).
    expect((await stat(join(rootfs, "modelscope", "models", "iic", "vad___v2", "model.pt"))).size).toBe(50_000);

    // A second machine: a separate clean cache, the same lock ⇒ the same image digest; nothing but HEADs is sent.
    proxy.reset();
    const blobsBefore = (await storedBlobs(reg.dir)).length;
    const second = await runCli(["image", "--all", "--frozen", "--lockfile", join(dir, "locks", "models.lock.json"), "--root", join(dir, "cacheB"), "--projects-dir", projects, "--push", ref], env);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain(`@${digest}:`);
    expect(second.stdout).toMatch(/0 blobs sent, 5 reused/);
    expect((await storedBlobs(reg.dir)).length).toBe(blobsBefore);
    expect(proxy.sent()).toBeLessThan(20_000); // HEAD requests and the manifest, no layer (the voice layer alone is 200 kB)

    // One model changes upstream: exactly its layer (plus the records and config) is sent.
    h.addRepo(repos("voice-v2")[0]!);
    proxy.reset();
    const relock = await runCli(["lock", "--all", "--projects-dir", projects, "--lockfile", join(dir, "locks2", "models.lock.json")], env);
    expect(relock.code, relock.stderr).toBe(0);
    const third = await runCli(["image", "--all", "--frozen", "--lockfile", join(dir, "locks2", "models.lock.json"), "--root", join(dir, "cacheA"), "--projects-dir", projects, "--push", ref], env);
    expect(third.code, third.stderr).toBe(0);
    const sentLines = third.stdout.split("\n").filter((l) => l.startsWith("sent "));
    expect(sentLines.map((l) => l.split(/\s+/)[1])).toEqual(["huggingface/hub/models--acme--voice", "download-models", "config"]);
    expect(proxy.sent()).toBeGreaterThan(200_000);
    expect(proxy.sent()).toBeLessThan(260_000);
  });

  it("logs in with Basic auth (password on stdin or a Docker config file) and leaves no secret in any blob", { timeout: 120_000 }, async () => {
    const h = await hub({ repos: repos("voice-v1") });
    const dir = await tempDir({ "projects/demo.ts": PROJECT });
    const password = `s3cret-${randomBytes(8).toString("hex")}`;
    const htpasswd = sh("htpasswd", ["-Bbn", "tester", password]);
    expect(htpasswd.code).toBe(0);
    const reg = await startRegistry({ htpasswd: htpasswd.stdout });
    onTestFinished(() => reg.stop());
    const env = { HF_ENDPOINT: h.url, MODELSCOPE_ENDPOINT: h.url, HOME: dir, DOCKER_CONFIG: join(dir, "nodocker") };
    const args = ["image", "--all", "--root", join(dir, "cache"), "--projects-dir", join(dir, "projects"), "--push", `${reg.host}/secure/models:v1`];

    const anonymous = await runCli(args, env);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toMatch(/needs a user and password/);

    const viaStdin = await runCliStdin([...args, "--registry-user", "tester"], env, `${password}\n`);
    expect(viaStdin.code, viaStdin.stderr).toBe(0);
    expect(viaStdin.stdout + viaStdin.stderr).not.toContain(password);

    await mkdir(join(dir, "docker"));
    await writeFile(join(dir, "docker", "config.json"), JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`tester:${password}`).toString("base64") } } }));
    const viaConfig = await runCli([...args.slice(0, -1), `${reg.host}/secure/models:v2`], { ...env, DOCKER_CONFIG: join(dir, "docker") });
    expect(viaConfig.code, viaConfig.stderr).toBe(0);
    expect(viaConfig.stdout).toMatch(/0 blobs sent|[12] blobs? sent/);

    const b64 = Buffer.from(`tester:${password}`).toString("base64");
    for (const blob of await storedBlobs(reg.dir)) {
      const bytes = await readFile(blob);
      expect(bytes.includes(password), blob).toBe(false);
      expect(bytes.includes(b64), blob).toBe(false);
    }
  });

  it("gets a Bearer token (WWW-Authenticate flow), builds on a base image by cross-repository mount, and copies a base from another registry", { timeout: 180_000 }, async () => {
    const h = await hub({ repos: repos("voice-v1") });
    const dir = await tempDir({ "projects/demo.ts": PROJECT });
    const password = `tok-${randomBytes(8).toString("hex")}`;
    const tokens = await startTokenService("tester", password);
    onTestFinished(() => tokens.close());
    const reg = await startRegistry({ token: tokens });
    onTestFinished(() => reg.stop());
    const env = { HF_ENDPOINT: h.url, MODELSCOPE_ENDPOINT: h.url, HOME: dir };
    await mkdir(join(dir, "auth"));
    const authFile = join(dir, "auth", "auth.json");
    await writeFile(authFile, JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`tester:${password}`).toString("base64") } } }));
    const common = ["--root", join(dir, "cache"), "--projects-dir", join(dir, "projects")];

    // The "base": a models-only image of the ModelScope model (any image works; this one needs no network).
    const base = await runCli(["image", "ms:iic/vad.v2", ...common, "--push", `${reg.host}/worker/base:1`], { ...env, REGISTRY_AUTH_FILE: authFile });
    expect(base.code, base.stderr).toBe(0);
    const baseDigest = base.stdout.match(/@(sha256:[0-9a-f]{64}):/)![1]!;
    const on = await runCli(["image", "--all", ...common, "--base", `${reg.host}/worker/base:1`, "--push", `${reg.host}/worker/models:1`], { ...env, REGISTRY_AUTH_FILE: authFile });
    expect(on.code, on.stderr).toBe(0);
    expect(on.stdout, on.stdout).toMatch(/^mounted base /m);
    expect(tokens.tokens.length).toBeGreaterThan(0);
    for (const t of tokens.tokens) expect(on.stdout + on.stderr).not.toContain(t);
    const raw = JSON.parse((await shAsync("skopeo", ["inspect", "--tls-verify=false", "--raw", "--authfile", authFile, `docker://${reg.host}/worker/models:1`])).stdout) as {
      layers: unknown[];
      annotations: Record<string, string>;
    };
    expect(raw.layers).toHaveLength(2 + 4); // the base's model + records layers, then ours
    expect(raw.annotations["org.opencontainers.image.base.digest"]).toBe(baseDigest);
    const config = JSON.parse((await shAsync("skopeo", ["inspect", "--tls-verify=false", "--config", "--authfile", authFile, `docker://${reg.host}/worker/models:1`])).stdout) as {
      rootfs: { diff_ids: string[] };
      history: unknown[];
    };
    expect(config.rootfs.diff_ids).toHaveLength(6);
    expect(config.history).toHaveLength(6);

    // A base on another registry: its layers are streamed across, digests unchanged.
    const other = await startRegistry();
    onTestFinished(() => other.stop());
    const copied = await runCli(["image", "hf:acme/voice", ...common, "--base", `${reg.host}/worker/base:1`, "--push", `${other.host}/elsewhere/models:1`], { ...env, REGISTRY_AUTH_FILE: authFile });
    expect(copied.code, copied.stderr).toBe(0);
    expect(copied.stdout.split("\n").filter((l) => /^sent +base /.test(l))).toHaveLength(2);

    for (const blob of [...(await storedBlobs(reg.dir)), ...(await storedBlobs(other.dir))]) {
      const bytes = await readFile(blob);
      expect(bytes.includes(password), blob).toBe(false);
      for (const t of tokens.tokens) expect(bytes.includes(t), blob).toBe(false);
    }

    // Without credentials the token service grants no push: a clear error, exit 1.
    const denied = await runCli(["image", "hf:acme/voice", ...common, "--push", `${reg.host}/worker/models:2`], env);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/answered 401|no push or pull right|log in/);
  });

  it("is what build-serverless.sh uses by default: no daemon, the models pushed as layers", { timeout: 180_000 }, async () => {
    const token = `hf_${randomBytes(10).toString("hex")}`;
    const h = await hub({ repos: repos("voice-v1"), tokens: [token] });
    const dir = await tempDir({ "projects/demo.ts": PROJECT });
    const reg = await startRegistry();
    onTestFinished(() => reg.stop());
    const args = ["--projects-dir", join(dir, "projects"), "--base-image", "none", "--cache-dir", join(dir, "cache"), "--build-arg", `HF_ENDPOINT=${h.url}`, "--build-arg", `MODELSCOPE_ENDPOINT=${h.url}`, "--image", `${reg.host}/sls/worker:1`, "--push"];
    const dry = sh(join(import.meta.dirname, "..", "..", "build-serverless.sh"), ["--dry-run", ...args], { HF_TOKEN: token });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/download-models\.js image --all --projects-dir \S+ --root \S+ --platform linux\/amd64 --base none /);
    expect(dry.stdout + dry.stderr).not.toContain(token);
    const built = await shAsync(join(import.meta.dirname, "..", "..", "build-serverless.sh"), args, { HF_TOKEN: token, PATH: `/usr/bin:/bin:${join(process.execPath, "..")}` });
    expect(built.code, built.stderr + built.stdout).toBe(0);
    expect(built.stdout).toMatch(/3 model layers \(models only\)/);
    expect(built.stdout + built.stderr).not.toContain(token);
    const inspect = sh("skopeo", ["inspect", "--tls-verify=false", `docker://${reg.host}/sls/worker:1`]);
    expect(inspect.code, inspect.stderr).toBe(0);
    for (const blob of await storedBlobs(reg.dir)) expect((await readFile(blob)).includes(token)).toBe(false);
  });

  it("writes an OCI image layout that umoci unpacks, with the same digest as the push", { timeout: 120_000 }, async () => {
    const h = await hub({ repos: repos("voice-v1") });
    const dir = await tempDir({ "projects/demo.ts": PROJECT });
    const env = { HF_ENDPOINT: h.url, MODELSCOPE_ENDPOINT: h.url, HOME: dir };
    const layout = join(dir, "layout");
    const out = await runCli(["image", "--all", "--root", join(dir, "cache"), "--projects-dir", join(dir, "projects"), "--output", `oci:${layout}:models`], env);
    expect(out.code, out.stderr).toBe(0);
    const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as { manifests: { digest: string }[] };
    expect(out.stdout).toContain(`@${index.manifests[0]!.digest}:`);
    expect((await readdir(join(layout, "blobs", "sha256"))).filter((f) => f.startsWith("."))).toEqual([]);
    const bundle = join(dir, "bundle");
    const unpack = sh("umoci", ["unpack", "--rootless", "--image", `${layout}:models`, bundle]);
    expect(unpack.code, unpack.stderr).toBe(0);
    const verify = await runCli(["verify", "--all", "--root", join(bundle, "rootfs", "models"), "--projects-dir", join(dir, "projects")], env);
    expect(verify.stdout).toContain("3 ok, 0 corrupt");

    const lockfile = join(dir, "locks", "models.lock.json");
    expect((await runCli(["lock", "--all", "--projects-dir", join(dir, "projects"), "--lockfile", lockfile], env)).code).toBe(0);
    const refs = await runCli(["image", "--runpod-references", "--all", "--projects-dir", join(dir, "projects"), "--lockfile", lockfile], env);
    expect(refs.code, refs.stderr).toBe(0);
    expect(refs.stdout).toMatch(/^https:\/\/huggingface\.co\/acme\/voice:[0-9a-f]{40}$/m);
    expect(refs.stdout).toMatch(/^# modelscope iic\/vad\.v2@master: RunPod caches only HuggingFace models/m);
  });
});

function runCliStdin(args: string[], env: Record<string, string>, input: string) {
  const r = spawnSync(process.execPath, [join(import.meta.dirname, "..", "..", "bin", "download-models.js"), ...args], {
    input,
    encoding: "utf8",
    env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(HF_|HUGGING|MODELSCOPE|RUNPOD_|DOWNLOAD_MODELS_)/.test(k))), ...env },
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
