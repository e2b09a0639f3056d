import { describe, expect, it } from "vitest";
import { readFile, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { makeRepo, moveBranch } from "@download-models/local-hub";
import { readLock } from "../../src/lockfile/lockfile.ts";
import { hub } from "../helpers/hub.ts";
import { runMain } from "../helpers/cli.ts";
import { tempDir } from "../helpers/tmp.ts";

const project = (name: string, models: object[]) => `export default ${JSON.stringify({ name, models })};`;
const apiRequests = (h: { requests: { path: string }[] }) => h.requests.filter((r) => r.path.startsWith("/api/"));

async function setup() {
  const tts = makeRepo({ id: "acme/tts", files: [{ path: "w.safetensors", size: 300_000 }, { path: "config.json", text: '{"v":1}' }, { path: "gone.txt", text: "x" }] });
  const asr = makeRepo({ id: "iic/asr", source: "modelscope", files: [{ path: "m.pt", size: 5000 }, { path: "conf.yaml", text: "a: 1" }] });
  const extra = makeRepo({ id: "acme/extra", files: [{ path: "e.bin", size: 100 }] });
  const h = await hub({ repos: [tts, asr, extra] });
  const dir = await tempDir({
    "projects/voice.ts": project("voice", [{ id: "acme/tts" }, { id: "iic/asr", source: "modelscope" }]),
  });
  const root = await tempDir();
  const env = { HF_ENDPOINT: h.url, MODELSCOPE_ENDPOINT: h.url, HOME: root };
  const pdir = join(dir, "projects");
  const lockPath = join(dir, "models.lock.json");
  const cli = (...args: string[]) => runMain([...args, "--projects-dir", pdir], env);
  return { h, tts, asr, dir, pdir, root, env, lockPath, cli };
}

describe("lock, --frozen and lock --update through the CLI", () => {
  it("locks at A; after the branch moves a --frozen run downloads A with zero revision requests; --update moves to B with the diff", { timeout: 60_000 }, async () => {
    const { h, tts, root, lockPath, cli } = await setup();
    const a = tts.refs.main!;
    const locked = await cli("lock", "--all");
    expect(locked.stderr).toBe("");
    expect(locked.code).toBe(0);
    expect(locked.stdout).toContain(`locked hf:acme/tts@main at ${a} (3 files)`);
    expect(locked.stdout).toMatch(/locked ms:iic\/asr@master at [0-9a-f]+ \(2 files\)/);
    expect(locked.stdout).toContain(`${lockPath}: 2 added, 0 updated, 0 unchanged, 0 dropped.`);
    const lock = await readLock(lockPath);
    expect(lock.models.map((m) => [m.id, m.projects])).toEqual([["acme/tts", ["voice"]], ["iic/asr", ["voice"]]]);
    // Sticky: a second lock resolves nothing.
    h.resetStats();
    expect((await cli("lock", "--all")).stdout).toContain("0 added, 0 updated, 2 unchanged, 0 dropped.");
    expect(h.requests).toEqual([]);

    const lockText = await readFile(lockPath, "utf8");
    const b = moveBranch(tts, "main", [{ path: "w.safetensors", size: 310_000 }, { path: "config.json", text: '{"v":2}' }, { path: "new.txt", text: "y" }]).sha;
    h.resetStats();
    const frozen = await cli("--project", "voice", "--frozen", "--root", root);
    expect(frozen.stderr).toBe("");
    expect(frozen.code).toBe(0);
    expect(apiRequests(h).filter((r) => r.path.startsWith("/api/models/acme/tts"))).toEqual([]);
    expect(await readFile(join(root, "huggingface", "hub", "models--acme--tts", "refs", "main"), "utf8")).toBe(a);
    expect(frozen.stdout).toContain(`# hf:acme/tts@main → pin revision="${a}"`);
    expect(await readFile(lockPath, "utf8")).toBe(lockText); // --frozen never writes the lock

    const env = await cli("env", "--lock", "--root", root);
    expect(env.code).toBe(0);
    expect(env.stdout).toContain(`# hf:acme/tts@main → pin revision="${a}"`);
    const envJson = JSON.parse((await cli("env", "--lock", "--json", "--root", root)).stdout) as { pins: { ref: string; pin: string }[] };
    expect(envJson.pins).toContainEqual(expect.objectContaining({ ref: "hf:acme/tts@main", pin: a }));

    const update = await cli("lock", "--update", "hf:acme/tts");
    expect(update.code).toBe(0);
    expect(update.stdout).toContain(`hf:acme/tts@main: ${a.slice(0, 12)} → ${b.slice(0, 12)}`);
    expect(update.stdout).toContain("  + new.txt (1 B)");
    expect(update.stdout).toContain("  - gone.txt (1 B)");
    expect(update.stdout).toContain("  ~ w.safetensors (300 kB → 310 kB)");
    expect(update.stdout).toContain("0 added, 1 updated, 1 unchanged, 0 dropped.");
    const all = await cli("lock", "--all", "--update");
    expect(all.stdout).toContain(`hf:acme/tts@main: unchanged (${b.slice(0, 12)})`);
    expect(all.stdout).toMatch(/ms:iic\/asr@master: unchanged/);
    expect((await readLock(lockPath)).models.find((m) => m.id === "acme/tts")!.commit).toBe(b);

    // The updated lock is followed: the copy at A is replaced by B.
    const after = await cli("--all", "--frozen", "--root", root);
    expect(after.code).toBe(0);
    expect(await readFile(join(root, "huggingface", "hub", "models--acme--tts", "refs", "main"), "utf8")).toBe(b);
  });

  it("--frozen refuses, before any request, a project that adds a model or declares one differently, and a missing lockfile", async () => {
    const { h, pdir, root, lockPath, cli } = await setup();
    const missing = await cli("--all", "--frozen", "--root", root);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`--frozen: ${lockPath} does not exist`);
    expect((await cli("lock", "--all")).code).toBe(0);
    // A new file name: this process has the old one imported already.
    await rm(join(pdir, "voice.ts"));
    await writeFile(join(pdir, "voice-v2.ts"), project("voice", [{ id: "acme/tts", include: ["*.json"] }, { id: "iic/asr", source: "modelscope" }]));
    await writeFile(join(pdir, "more.ts"), project("more", [{ id: "acme/extra" }]));
    const before = await readFile(lockPath, "utf8");
    h.resetStats();
    const refused = await cli("--all", "--frozen", "--root", root);
    expect(refused.code).toBe(2);
    expect(h.requests).toEqual([]);
    expect(refused.stderr).toContain(`--frozen: the selection does not match ${lockPath} (2 models):`);
    expect(refused.stderr).toContain("  - hf:acme/extra@main: not in the lock");
    expect(refused.stderr).toContain("  - hf:acme/tts@main: declared differently than locked\n      include: locked [], declared [*.json]");
    expect(refused.stderr).toContain("  download-models lock --project more");
    expect(refused.stderr).toContain("  download-models lock --update hf:acme/tts@main");
    expect(await readFile(lockPath, "utf8")).toBe(before);
    expect(existsSync(join(root, "huggingface"))).toBe(false);

    // Without --frozen the new model is downloaded and added, and the run says so.
    const added = await cli("--project", "more", "--root", root);
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/added to models\.lock\.json: hf:acme\/extra@main \(commit [0-9a-f]{12}…\)/);
    expect((await readLock(lockPath)).models.map((m) => m.id)).toContain("acme/extra");
  });

  it("a ModelScope branch that moved since the lock fails the model with the clear error", async () => {
    const { asr, root, cli } = await setup();
    expect((await cli("lock", "--all")).code).toBe(0);
    moveBranch(asr, "master", [{ path: "m.pt", size: 5000 }, { path: "conf.yaml", text: "a: 2" }]);
    const run = await cli("--all", "--frozen", "--root", root);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/ms:iic\/asr: the hub's master moved since the lock \(1 file changed\): run `download-models lock --update ms:iic\/asr`/);
    const fixed = await cli("lock", "--update", "ms:iic/asr");
    expect(fixed.stdout).toMatch(/ms:iic\/asr@master: [0-9a-f]{12} → [0-9a-f]{12}\n  ~ conf.yaml \(4 B → 4 B\)/);
    expect((await cli("--all", "--frozen", "--root", root)).code).toBe(0);
  });
});
