import { spawn, spawnSync } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { parseArgs } from "node:util";
import { randomBytes } from "node:crypto";
import { startLocalHub, makeRepo, type HubRepo } from "../local-hub/index.ts";
import { demoRepos } from "../demo/catalog.ts";
import { packageRoot } from "../src/util/index.ts";
import { layerTar, normaliseEntries, digestOf, type LayerEntry } from "../src/image/tar.ts";
import { startRegistry } from "../test/helpers/oci-registry.ts";

// `npm run bench -- image [--big-mb 2048] [--skip-compression] [--skip-buildah]`
// 1. Layer compression: a model layer of each demo model and of one big file (pseudo-random bytes, as weights are to
//    a compressor), uncompressed (tar + sha256), gzip (Node's zlib, level 6) and zstd (the zstd CLI, -3, if
//    installed): size and seconds.
// 2. Push to Debian's docker-registry on 127.0.0.1 through a byte-counting proxy: first push of the demo's public
//    models, a second push with nothing changed, one with one model changed (new commit, lock updated); time and
//    bytes sent. Beside it, where buildah is installed, the Dockerfile way: `FROM scratch` + `COPY models /models`
//    (one /models layer), `buildah push` of the same three states.
const { values: args } = parseArgs({
  args: process.argv.slice(3),
  options: { "big-mb": { type: "string", default: "2048" }, "skip-compression": { type: "boolean" }, "skip-buildah": { type: "boolean" } },
});
const MiB = 1024 * 1024;
const work = join(packageRoot, ".tmp", "bench-image");
const BIN = join(packageRoot, "bin", "download-models.js");
const have = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const fmt = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function countingProxy(port: number) {
  let sent = 0;
  const server = createServer((client) => {
    const up = connect(port, "127.0.0.1");
    client.on("data", (d: Buffer) => (sent += d.length));
    client.pipe(up).pipe(client);
    client.on("error", () => up.destroy());
    up.on("error", () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as { port: number }).port, take: () => ((sent = 0), undefined), sent: () => sent, close: () => server.close() };
}

function run(cmd: string, argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ ms: number; code: number; out: string }> {
  const start = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("exit", (code) => resolve({ ms: Date.now() - start, code: code ?? -1, out }));
  });
}

async function measure(name: string, entries: LayerEntry[]): Promise<string[]> {
  const rows: string[] = [];
  let t = Date.now();
  const plain = await digestOf(layerTar(entries, 1));
  rows.push(`${name.padEnd(34)} uncompressed ${fmt(plain.size).padStart(9)}  ${secs(Date.now() - t).padStart(7)}`);
  t = Date.now();
  let gz = 0;
  const gzip = createGzip({ level: 6 });
  const count = async function* (src: AsyncIterable<Buffer>) {
    for await (const c of src) {
      gz += c.length;
      yield c;
    }
  };
  await pipeline(Readable.from(layerTar(entries, 1)), gzip, async (src) => {
    for await (const _ of count(src)) void _;
  });
  rows.push(`${"".padEnd(34)} gzip -6      ${fmt(gz).padStart(9)}  ${secs(Date.now() - t).padStart(7)}  (${((100 * gz) / plain.size).toFixed(1)} %)`);
  if (have("zstd")) {
    t = Date.now();
    const child = spawn("zstd", ["-3", "-q", "-c", "-T1"], { stdio: ["pipe", "pipe", "ignore"] });
    let zs = 0;
    child.stdout.on("data", (d: Buffer) => (zs += d.length));
    const done = new Promise((r) => child.on("exit", r));
    await pipeline(Readable.from(layerTar(entries, 1)), child.stdin);
    await done;
    rows.push(`${"".padEnd(34)} zstd -3      ${fmt(zs).padStart(9)}  ${secs(Date.now() - t).padStart(7)}  (${((100 * zs) / plain.size).toFixed(1)} %)`);
  }
  return rows;
}

const publicDemo = (changed = false): HubRepo[] =>
  demoRepos()
    .filter((r) => r.access === "public")
    .map((r) => (changed && r.id === "download-models-demo/tiny-voice" ? makeRepo({ id: r.id, files: [{ path: "config.json", text: '{"changed":true}\n' }, { path: "model.safetensors", size: 1_500_000, seed: "changed" }] }) : r));

await rm(work, { recursive: true, force: true });
await mkdir(work, { recursive: true });
const repos = publicDemo();
const hub = await startLocalHub({ repos });
const projects = join(work, "projects");
await mkdir(projects, { recursive: true });
const ids = repos.map((r) => ({ id: r.id, ...(r.source === "modelscope" ? { source: "modelscope" } : {}) }));
await writeFile(join(projects, "demo.ts"), `export default { name: "demo", models: ${JSON.stringify(ids)} };\n`);
const env = { HF_ENDPOINT: hub.url, MODELSCOPE_ENDPOINT: hub.url, HOME: work, DOCKER_CONFIG: join(work, "docker") };
const lock = join(work, "models.lock.json");
// Never a synchronous child here: the hub answers from this process.
const cli = async (argv: string[]) => {
  const r = await run(process.execPath, [BIN, ...argv], env);
  if (r.code !== 0) throw new Error(`download-models ${argv.join(" ")} failed:\n${r.out}`);
};
const cache = join(work, "cache");
const sel = ["--all", "--projects-dir", projects, "--lockfile", lock];
await cli(["lock", ...sel]);
await cli([...sel, "--frozen", "--root", cache, "-q"]);
console.log(`${repos.length} public demo models on the local hub; machine: ${spawnSync("nproc").stdout.toString().trim()} cores\n`);

if (!args["skip-compression"]) {
  console.log("Layer types (one model = one layer; time = build the tar and hash or compress it):");
  const { readCompleteModels } = await import("../src/image/model-files.ts");
  const { createRegistry, builtinDownloaders } = await import("../src/sources/index.ts");
  const { resolveRoots } = await import("../src/store/index.ts");
  const models = repos.map((r) => ({ source: r.source, id: r.id, revision: r.source === "modelscope" ? "master" : "main", include: [], exclude: [], projects: ["demo"] }));
  const contents = await readCompleteModels({ models, registry: createRegistry(builtinDownloaders), roots: resolveRoots({ root: cache, env: {} }), completedAt: "1970-01-01T00:00:01Z" });
  const all: LayerEntry[] = [];
  for (const c of contents) all.push(...c.entries);
  for (const line of await measure(`demo models (${contents.length} layers)`, normaliseEntries(all))) console.log(line);
  const bigMb = Number(args["big-mb"]);
  const big = join(work, "big.bin");
  // Pseudo-random bytes, written with back-pressure (8 MiB at a time in memory).
  await pipeline(
    Readable.from((function* () {
      for (let i = 0; i < bigMb; i += 8) yield randomBytes(Math.min(8, bigMb - i) * MiB);
    })()),
    createWriteStream(big),
  );
  for (const line of await measure(`one ${bigMb} MiB file`, normaliseEntries([{ type: "file", name: "models/big.bin", size: bigMb * MiB, path: big }]))) console.log(line);
  await rm(big, { force: true });
  console.log("");
}

const reg = await startRegistry({}, { relativeUrls: true });
const proxy = await countingProxy(Number(reg.host.split(":")[1]));
const ref = (name: string) => `127.0.0.1:${proxy.port}/bench/${name}:v1`;
console.log("Push to a local registry (time; bytes the client sent, requests included):");
const say = (line: string) => console.log(line);
const step = async (label: string, cmd: string, argv: string[], extraEnv: NodeJS.ProcessEnv = {}) => {
  proxy.take();
  const r = await run(cmd, argv, { ...env, ...extraEnv });
  if (r.code !== 0) throw new Error(`${label} failed:\n${r.out}`);
  say(`${label.padEnd(52)} ${secs(r.ms).padStart(7)}  ${fmt(proxy.sent()).padStart(9)} sent`);
  return r;
};
const image = (root: string) => [BIN, "image", ...sel, "--frozen", "--root", root, "--push", ref("layers"), "-q"];
await step("download-models image: first push", process.execPath, image(cache));
await step("download-models image: nothing changed", process.execPath, image(cache));
hub.addRepo(publicDemo(true).find((r) => r.id === "download-models-demo/tiny-voice")!);
await cli(["lock", "--update", "hf:download-models-demo/tiny-voice", ...sel]);
await step("download-models image: one model changed", process.execPath, image(cache));

if (have("buildah") && !args["skip-buildah"] && process.getuid?.() === 0) {
  // The Dockerfile way: one /models layer (what `bake` + COPY produce), built and pushed by buildah.
  const ctx = join(work, "ctx");
  const store = ["--root", join(work, "buildah", "root"), "--runroot", join(work, "buildah", "run"), "--storage-driver", "vfs"];
  const bake = async (state: string) => {
    await rm(ctx, { recursive: true, force: true });
    await mkdir(ctx, { recursive: true });
    await cli(["bake", ...sel, "--from", cache, "--to", join(ctx, "models")]);
    await writeFile(join(ctx, "Dockerfile"), "FROM scratch\nCOPY models /models\n");
    void state;
  };
  const dockerfile = async (label: string) => {
    await bake(label);
    const t = Date.now();
    const b = await run("buildah", [...store, "bud", "--isolation", "chroot", "--timestamp", "1", "-t", "localhost/bench:v1", ctx]);
    if (b.code !== 0) throw new Error(`buildah bud failed:\n${b.out}`);
    proxy.take();
    const p = await run("buildah", [...store, "push", "--tls-verify=false", "localhost/bench:v1", `docker://${ref("dockerfile")}`]);
    if (p.code !== 0) throw new Error(`buildah push failed:\n${p.out}`);
    say(`${label.padEnd(52)} ${secs(Date.now() - t).padStart(7)}  ${fmt(proxy.sent()).padStart(9)} sent`);
  };
  // Back to the first state for a fair start: the lock and cache of the first push.
  hub.addRepo(repos.find((r) => r.id === "download-models-demo/tiny-voice")!);
  await cli(["lock", "--update", "hf:download-models-demo/tiny-voice", ...sel]);
  await cli([...sel, "--frozen", "--root", cache, "-q"]);
  await dockerfile("buildah bud + push (one /models layer): first push");
  await dockerfile("buildah bud + push: nothing changed");
  hub.addRepo(publicDemo(true).find((r) => r.id === "download-models-demo/tiny-voice")!);
  await cli(["lock", "--update", "hf:download-models-demo/tiny-voice", ...sel]);
  await cli([...sel, "--frozen", "--root", cache, "-q"]);
  await dockerfile("buildah bud + push: one model changed");
} else {
  say("(buildah not installed or not root: the Dockerfile path is not measured)");
}
proxy.close();
await reg.stop();
await hub.close();
