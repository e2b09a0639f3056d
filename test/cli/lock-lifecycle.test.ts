import { describe, expect, it } from "vitest";
import { readFile, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { makeRepo, moveBranch } from "@download-models/local-hub";
import { readLock } from "../../src/lockfile/lockfile.ts";
import { hub } from "../helpers/hub.ts";
import { runCli, runMain } from "../helpers/cli.ts";
import { tempDir } from "../helpers/tmp.ts";

// The lock's lifecycle: entries are added by `lock`, replaced when a declaration changes, dropped when no project
// declares them; two `lock` runs at once lose nothing; what the lock says is checked when it is read.

const project = (name: string, models: object[]) => `export default ${JSON.stringify({ name, models })};`;

async function setup() {
  const tts = makeRepo({ id: "acme/tts", files: [{ path: "w.safetensors", size: 300_000 }, { path: "config.json", text: '{"v":1}' }] });
  const extra = makeRepo({ id: "acme/extra", files: [{ path: "e.bin", size: 50_000 }] });
  const h = await hub({ repos: [tts, extra] });
  const dir = await tempDir({ "projects/voice.ts": project("voice", [{ id: "acme/tts" }, { id: "acme/extra" }]) });
  const root = await tempDir();
  const env = { HF_ENDPOINT: h.url, HOME: root };
  const pdir = join(dir, "projects");
  const lockPath = join(dir, "models.lock.json");
  // Project files are written under new names: an in-process run keeps the modules it imported.
  let version = 0;
  const declare = async (models: object[]) => {
    for (const f of ["voice.ts", `voice-${version}.ts`]) await rm(join(pdir, f), { force: true });
    await writeFile(join(pdir, `voice-${++version}.ts`), project("voice", models));
  };
  const cli = (...args: string[]) => runMain([...args, "--projects-dir", pdir], env);
  return { h, tts, dir, pdir, root, env, lockPath, cli, declare };
}

describe("the lock follows the projects", () => {
  it("a model dropped from its project: lock --check names it and fails; lock drops it; prune then frees its bytes", { timeout: 60_000 }, async () => {
    const { root, lockPath, cli, declare } = await setup();
    expect((await cli("lock")).code).toBe(0);
    expect((await cli("--all", "--frozen", "--root", root)).code).toBe(0);
    const extraDir = join(root, "huggingface", "hub", "models--acme--extra");
    expect(existsSync(extraDir)).toBe(true);

    await declare([{ id: "acme/tts" }]);
    const check = await cli("lock", "--check", "--lockfile", lockPath);
    expect(check.code).toBe(2);
    expect(check.stderr).toContain("  - hf:acme/extra@main: in the lock, but no project declares it");
    // The printed fix carries the folders and lockfile the user gave, so it works as printed.
    expect(check.stderr).toMatch(new RegExp(`\\n  download-models lock --projects-dir \\S+projects --lockfile ${lockPath}\\n`));

    const lock = await cli("lock");
    expect(lock.code).toBe(0);
    expect(lock.stdout).toContain("dropped hf:acme/extra@main (no project declares it any more; was voice)");
    expect(lock.stdout).toContain("0 added, 0 updated, 1 unchanged, 1 dropped.");
    expect((await readLock(lockPath)).models.map((m) => m.id)).toEqual(["acme/tts"]);
    expect((await cli("lock", "--check")).code).toBe(0);

    const prune = await cli("prune", "--yes", "--root", root);
    expect(prune.code).toBe(0);
    expect(prune.stdout).toContain("hf:acme/extra");
    const left = await runMain(["verify", "--root", root]);
    expect(left.stdout).not.toContain("acme/extra");
    expect((await cli("verify", "--all", "--root", root)).code).toBe(0);
  });

  it("--frozen refuses entries no project declares any more, as lock --check does; the printed fix carries the user's flags and works", { timeout: 60_000 }, async () => {
    const { root, lockPath, pdir, env, cli, declare } = await setup();
    expect((await cli("lock")).code).toBe(0);
    await declare([{ id: "acme/tts" }]);
    const fix = `\n  download-models lock --projects-dir ${pdir} --lockfile ${lockPath}\n`;
    const frozen = await cli("--all", "--frozen", "--root", root, "--lockfile", lockPath);
    expect(frozen.code).toBe(2);
    expect(frozen.stderr).toContain("  - hf:acme/extra@main: in the lock, but no project declares it");
    expect(frozen.stderr).toContain(fix);
    expect(frozen.stderr).toContain(`Then run again: download-models --all --frozen --root ${root} --projects-dir ${pdir} --lockfile ${lockPath}`);
    expect(existsSync(join(root, "huggingface"))).toBe(false); // refused before any download
    // Ids alone: the projects are read too, to judge the lock's entries.
    const byId = await cli("acme/tts", "--frozen", "--root", root, "--lockfile", lockPath);
    expect(byId.code).toBe(2);
    expect(byId.stderr).toContain("  - hf:acme/extra@main: in the lock, but no project declares it");
    const check = await cli("lock", "--check", "--lockfile", lockPath);
    expect(check.code).toBe(2);
    expect(check.stderr).toContain(fix);

    // As printed, the fix works; then both agree the lock is in sync.
    expect((await runMain(["lock", "--projects-dir", pdir, "--lockfile", lockPath], env)).code).toBe(0);
    expect((await cli("lock", "--check", "--lockfile", lockPath)).code).toBe(0);
    expect((await cli("--all", "--frozen", "--root", root, "--lockfile", lockPath)).code).toBe(0);
  });

  it("lock --update hf:acme/tts@main after the include changed replaces the entry (no second one); env --lock prints each pin once", { timeout: 60_000 }, async () => {
    const { lockPath, cli, declare, pdir } = await setup();
    expect((await cli("lock")).code).toBe(0);
    await declare([{ id: "acme/tts", include: ["*.json"] }, { id: "acme/extra" }]);
    const update = await cli("lock", "--update", "hf:acme/tts@main");
    expect(update.stderr).toBe("");
    expect(update.code).toBe(0);
    expect(update.stdout).toContain("hf:acme/tts@main: declared differently now; its entry is replaced");
    expect(update.stdout).toContain("  - w.safetensors (300 kB)");
    expect(update.stdout).toContain("0 added, 1 updated, 1 unchanged, 0 dropped.");
    const tts = (await readLock(lockPath)).models.filter((m) => m.id === "acme/tts");
    expect(tts.map((m) => m.include)).toEqual([["*.json"]]);

    // Two projects declare the same model with other filters: two entries, one commit, one pin for consumers.
    await writeFile(join(pdir, "other.ts"), project("other", [{ id: "acme/tts" }]));
    expect((await cli("lock")).code).toBe(0);
    expect((await readLock(lockPath)).models.filter((m) => m.id === "acme/tts")).toHaveLength(2);
    const env = await cli("env", "--lock");
    expect(env.stdout.split("\n").filter((l) => l.startsWith("# hf:acme/tts@main → pin"))).toHaveLength(1);
  });

  it("entries pinned by id alone stay until lock --drop names them", async () => {
    const { dir, cli, declare } = await setup();
    await declare([{ id: "acme/tts" }]); // acme/extra: no project declares it
    const lockfile = join(dir, "adhoc.lock.json");
    expect((await cli("lock", "hf:acme/extra", "--lockfile", lockfile)).code).toBe(0);
    expect((await cli("lock", "hf:acme/tts", "--lockfile", lockfile)).stdout).toContain("1 added, 0 updated, 0 unchanged, 0 dropped.");
    expect((await readLock(lockfile)).models.map((m) => m.id)).toEqual(["acme/extra", "acme/tts"]);
    const drop = await cli("lock", "--drop", "hf:acme/extra", "--lockfile", lockfile);
    expect(drop.code).toBe(0);
    expect(drop.stdout).toContain("dropped hf:acme/extra@main (--drop)");
    expect((await readLock(lockfile)).models.map((m) => m.id)).toEqual(["acme/tts"]);
  });
});

describe("what the lock says is checked", () => {
  it("a HuggingFace commit that is not 40 hex is refused when the lock is read, and nothing is written", async () => {
    const { root, lockPath, cli } = await setup();
    expect((await cli("lock")).code).toBe(0);
    const lock = JSON.parse(await readFile(lockPath, "utf8")) as { models: { id: string; commit: string }[] };
    lock.models.find((m) => m.id === "acme/tts")!.commit = "zz";
    await writeFile(lockPath, JSON.stringify(lock));
    const r = await cli("--all", "--root", root);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${lockPath} is not a valid lockfile`);
    expect(r.stderr).toContain('hf:acme/tts: "zz" is not a HuggingFace commit (40 lowercase hex digits)');
    expect(existsSync(join(root, "huggingface"))).toBe(false);
  });

  it("a locked commit the hub no longer has says so and names lock --update", async () => {
    const { tts, root, cli } = await setup();
    expect((await cli("lock")).code).toBe(0);
    const locked = tts.refs.main!;
    moveBranch(tts, "main", [{ path: "w.safetensors", size: 1000 }, { path: "config.json", text: '{"v":2}' }]);
    tts.commits = tts.commits.filter((c) => c.sha !== locked); // a force-push: the old commit is gone
    const r = await cli("--all", "--root", root);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`acme/tts: the locked commit ${locked} is no longer on the hub`);
    expect(r.stderr).toContain("`download-models lock --update hf:acme/tts@main`");
    expect(r.stderr).not.toContain('Revision "main" does not exist');
  });

  it("--frozen's fix commands carry --projects-dir and --lockfile, and the rerun --root", async () => {
    const { dir, root, env, cli } = await setup();
    const lockfile = join(dir, "pinned.json");
    await writeFile(lockfile, JSON.stringify({ lockfileVersion: 1, models: [] }));
    const r = await cli("--project", "voice", "--frozen", "--root", root, "--lockfile", lockfile);
    expect(r.code).toBe(2);
    const pdir = join(dir, "projects");
    expect(r.stderr).toContain(`  download-models lock --project voice --projects-dir ${pdir} --lockfile ${lockfile}\n`);
    expect(r.stderr).toContain(`Then run again: download-models --project voice --frozen --root ${root} --projects-dir ${pdir} --lockfile ${lockfile}`);
    // As printed, the fix works.
    expect((await runMain(["lock", "--project", "voice", "--projects-dir", pdir, "--lockfile", lockfile], env)).code).toBe(0);
    expect((await runMain(["--project", "voice", "--frozen", "--root", root, "--projects-dir", pdir, "--lockfile", lockfile], env)).code).toBe(0);
  });
});

describe("two lock commands at once", () => {
  it("never lose an entry (real child processes writing the same lockfile)", { timeout: 120_000 }, async () => {
    const ids = Array.from({ length: 4 }, (_, i) => `acme/m${i}`);
    const h = await hub({ repos: ids.map((id) => makeRepo({ id, files: [{ path: "config.json", text: `{"id":"${id}"}` }] })), latencyMs: 50 });
    const dir = await tempDir();
    const lockfile = join(dir, "models.lock.json");
    const runs = await Promise.all(ids.map((id) => runCli(["lock", `hf:${id}`, "--lockfile", lockfile], { HF_ENDPOINT: h.url, HOME: dir })));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect((await readLock(lockfile)).models.map((m) => m.id).sort()).toEqual(ids);
    expect(existsSync(`${lockfile}.lease`)).toBe(false);
  });
});
