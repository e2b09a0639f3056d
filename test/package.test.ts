import { describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { readdir } from "node:fs/promises";
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
const verified = await verifyModels(models, registry, roots);
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

describe("the npm package", () => {
  it("packs, installs into another project, type-checks a consumer against its declarations and runs a download", { timeout: 240_000 }, async () => {
    const dir = await tempDir({
      "app/package.json": JSON.stringify({ name: "consumer", private: true, type: "module" }),
      "app/consumer.ts": CONSUMER,
      "app/tsconfig.json": JSON.stringify(TSCONFIG),
      "app/projects/app.ts": PROJECT,
    });
    const app = join(dir, "app");
    // dist/ is fresh (global setup): no prepare, which would delete it under the other tests' feet.
    await run("npm", ["pack", "--ignore-scripts", "--silent", "--pack-destination", dir], { cwd: REPO });
    const tarball = (await readdir(dir)).find((n) => n.endsWith(".tgz"));
    expect(tarball).toBeDefined();
    await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", join(dir, tarball!)], { cwd: app });
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
