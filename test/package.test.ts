import { beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { makeRepo } from "@download-models/local-hub";
import { hub } from "./helpers/hub.ts";
import { tempDir } from "./helpers/tmp.ts";

const run = promisify(execFile);
const REPO = join(import.meta.dirname, "..");
const TSC = join(REPO, "node_modules", "typescript", "bin", "tsc");

// A program written against the installed package only: its types and its runtime, nothing from src/.
const CONSUMER = `
import {
  applyPrune, builtinDownloaders, consumerSetup, createRegistry, DownloadModelsError, findComplete, loadProjects, lockModels,
  lockPathFor, modelsOnDisk, openCache, planPrune, readLock, resolveRoots, runDownload, selectModels, verifyModels,
  volumeFill, volumeStatus, writeLock, type DownloadEvent, type ModelStore, type PrunePlan, type Summary, type VolumeStatus,
} from "download-models";
import { defineProject } from "download-models/define";

// @ts-expect-error a project needs its models: the types are real, not any
defineProject({ name: "incomplete" });

const [root, projectsDir] = process.argv.slice(2) as [string, string];
const registry = createRegistry(builtinDownloaders);
const projects = await loadProjects([projectsDir], registry.names());
const models = selectModels({ ids: ["hf:acme/extra"], all: true }, projects, registry);
const roots = resolveRoots({ root, env: process.env });
const events = new Set<DownloadEvent["type"]>();
const summary: Summary = await runDownload({ models, registry, roots, env: process.env, onEvent: (e) => events.add(e.type) });
const verified = await verifyModels({ models, registry, roots });
const { env } = await consumerSetup(summary, registry, roots);

// Lock the project's model (a listing, no download), write the lock and read it back.
const declared = models.filter((m) => m.projects.length > 0);
const lockPath = lockPathFor([projectsDir]);
const changes = await lockModels(await readLock(lockPath), declared, () => false, { registry, env: process.env });
await writeLock(lockPath, changes.lock);
const lock = await readLock(lockPath);
// Status against the lock; prune what neither the project nor the lock needs (the command-line model).
const status: VolumeStatus = await volumeStatus({ selection: models, lock, registry, roots });
const plan: PrunePlan = await planPrune({ selection: declared, lock, registry, roots });
const { removed } = await applyPrune(plan);
const left = await modelsOnDisk(registry, roots);
// The read side: the store of a model and its manifest.
const cache = openCache({ registry, roots });
const store: ModelStore = cache.store(declared[0]!);
const manifest = await findComplete(store, declared[0]!);
// The volume fill loads on demand (it brings in the AWS SDK).
const { parseVolume } = await volumeFill();
const volume = parseVolume("abc123xyz@EU-RO-1");

let unknown = "";
try {
  registry.get("nope");
} catch (error) {
  if (error instanceof DownloadModelsError) unknown = error.name;
}
console.log(JSON.stringify({
  downloaded: summary.downloaded, failed: summary.failed, verified: verified.map((v) => v.status), events: [...events], vars: env.vars, unknown,
  locked: lock.models.map((e) => [e.id, e.files.length]), status: status.models.map((m) => [m.model.id, m.state, m.locked]),
  pruned: [...new Set(removed.map((i) => i.model))], left: left.map((m) => m.id), manifest: manifest?.files.map((f) => f.path).sort(),
  volume: [volume.kind, volume.bucket],
}));
`;

const PROJECT = `import { defineProject } from "download-models/define";
export default defineProject({ name: "app", models: [{ id: "acme/tiny" }] });
`;

const TSCONFIG = {
  compilerOptions: {
    target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, skipLibCheck: true,
    types: ["node"], typeRoots: [join(REPO, "node_modules", "@types")], outDir: "out",
  },
  files: ["consumer.ts"],
};

// One tarball for both tests: `npm pack` of this checkout. dist/ is fresh (global setup): no prepare, which would
// delete it under the other tests' feet.
let tarball = "";
beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), "dm-pack-"));
  await run("npm", ["pack", "--ignore-scripts", "--silent", "--pack-destination", dir], { cwd: REPO });
  const name = (await readdir(dir)).find((n) => n.endsWith(".tgz"));
  expect(name).toBeDefined();
  tarball = join(dir, name!);
  return () => rm(dir, { recursive: true, force: true });
}, 120_000);

describe("the npm package", () => {
  it("packs, installs into another project, type-checks a consumer against its declarations and runs a download", { timeout: 240_000 }, async () => {
    const dir = await tempDir({
      "app/package.json": JSON.stringify({ name: "consumer", private: true, type: "module" }),
      "app/consumer.ts": CONSUMER,
      "app/tsconfig.json": JSON.stringify(TSCONFIG),
      "app/projects/app.ts": PROJECT,
    });
    const app = join(dir, "app");
    await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", tarball], { cwd: app });
    await run(process.execPath, [TSC, "-p", "tsconfig.json"], { cwd: app }).catch((error: { stdout?: string }) => {
      throw new Error(`the consumer does not type-check:\n${error.stdout}`);
    });

    const h = await hub({
      repos: [
        makeRepo({ id: "acme/tiny", files: [{ path: "config.json", text: "{}\n" }, { path: "model.safetensors", size: 20_000 }] }),
        makeRepo({ id: "acme/extra", files: [{ path: "config.json", text: "{}\n" }] }),
      ],
    });
    const root = join(dir, "models");
    const env = { PATH: process.env.PATH ?? "", HOME: dir, HF_ENDPOINT: h.url };
    const { stdout } = await run(process.execPath, [join(app, "out", "consumer.js"), root, join(app, "projects")], { cwd: app, env });
    expect(JSON.parse(stdout)).toEqual({
      downloaded: 2,
      failed: 0,
      verified: ["ok", "ok"],
      events: expect.arrayContaining(["start", "model-resolved", "file-done", "model-done"]),
      vars: { HF_HUB_CACHE: join(root, "huggingface", "hub"), HF_HUB_OFFLINE: "1" },
      unknown: "UsageError",
      locked: [["acme/tiny", 2]],
      status: [["acme/tiny", "complete", true], ["acme/extra", "complete", false]],
      pruned: ["hf:acme/extra"],
      left: ["acme/tiny"],
      manifest: ["config.json", "model.safetensors"],
      volume: ["runpod", "abc123xyz"],
    });
  });
});

describe("Use it in your own repository (README)", () => {
  it("installs into a team's repo; init, lock and a --frozen download use the repo's projects/ and models.lock.json, never the package's", { timeout: 300_000 }, async () => {
    const dir = await tempDir({ "team-repo/package.json": JSON.stringify({ name: "team-repo", version: "1.0.0", private: true }) });
    const repo = join(dir, "team-repo");
    const h = await hub({ repos: [makeRepo({ id: "acme/tiny", files: [{ path: "config.json", text: "{}\n" }, { path: "model.safetensors", size: 20_000 }] })] });
    const root = join(dir, "volume");
    const env = { PATH: process.env.PATH ?? "", HOME: dir, HF_ENDPOINT: h.url, npm_config_cache: join(process.env.HOME ?? dir, ".npm") };
    const npx = (...args: string[]) => run("npx", ["download-models", ...args], { cwd: repo, env });
    // The README's commands, in order.
    await run("npm", ["install", "--save-dev", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", tarball], { cwd: repo });
    const init = await npx("init", "hf:acme/tiny");
    expect(init.stdout).toContain('wrote projects/team-repo.ts (project "team-repo", 1 model)');
    expect(init.stdout).toContain("npx download-models lock");
    expect(await readFile(join(repo, "projects", "team-repo.ts"), "utf8")).toContain('import { defineProject } from "download-models/define";');

    const list = await npx("list");
    expect(list.stdout).toContain("team-repo");
    expect(list.stdout).toContain("acme/tiny@main");
    expect(list.stdout).not.toMatch(/\btts\b|speaker-diarization/); // the package's example projects stay out
    expect(list.stdout).toMatch(/^1 project, 1 model declaration/m);

    const lock = await npx("lock");
    expect(lock.stdout).toContain(`${join(repo, "models.lock.json")}: 1 added`);
    expect(existsSync(join(repo, "node_modules", "download-models", "models.lock.json"))).toBe(false);

    const download = await npx("--all", "--frozen", "--root", root);
    expect(download.stdout).toMatch(/downloaded +huggingface +acme\/tiny@main/);
    expect((await npx("verify", "--all", "--root", root)).stdout).toMatch(/ok +huggingface +acme\/tiny@main/);
  });
});

