import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { readFile } from "node:fs/promises";
import { DEFAULT_TOKEN, makeRepo } from "@download-models/local-hub";
import { hub } from "../helpers/hub.ts";
import { runCli, runMain } from "../helpers/cli.ts";
import { tempDir } from "../helpers/tmp.ts";

const SRC = JSON.stringify(join(import.meta.dirname, "..", "..", "src", "define.ts"));
const repo = (id: string, access?: "gated" | "private") =>
  makeRepo({ id, ...(access ? { access } : {}), files: [{ path: "config.json", text: "{}\n" }, { path: "weights/model.safetensors", size: 40_000 }] });

const msRepo = (id: string) =>
  makeRepo({ source: "modelscope", id, files: [{ path: "configuration.json", text: "{}\n" }, { path: "model.pt", size: 30_000 }] });

describe("download-models CLI", () => {
  it("downloads ids given on the command line, prints a line per model, a summary and the env lines; then skips with zero requests", async () => {
    const h = await hub({ repos: [repo("acme/a"), repo("acme/b")] });
    const root = await tempDir();
    const env = { HF_ENDPOINT: h.url, HOME: root };
    const first = await runMain(["acme/a", "hf:acme/b", "--root", root, "--include", "*.json"], env);
    // nothing on stderr but the notes for consumers of the filtered models
    expect(first.stderr.trim().split("\n").every((l) => l.startsWith("Note: ") && l.includes('allow_patterns=["*.json"]'))).toBe(true);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/downloaded +huggingface +acme\/a@main \([0-9a-f]{10}\): 1 file, 3 B/);
    expect(first.stdout).toMatch(/downloaded +huggingface +acme\/b@main/);
    expect(first.stdout).toMatch(/Summary: 2 downloaded, 0 skipped, 0 failed; 6 B downloaded in/);
    expect(first.stdout).toContain(`export HF_HUB_CACHE=${root}/huggingface/hub`);
    expect(first.stdout).toContain("export HF_HUB_OFFLINE=1");

    h.resetStats();
    const second = await runMain(["acme/a", "acme/b", "--root", root, "--include", "*.json"], env);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/skipped +huggingface +acme\/a@main .*complete on disk/);
    expect(second.stdout).toMatch(/Summary: 0 downloaded, 2 skipped, 0 failed/);
    expect(h.requests).toHaveLength(0);
  });

  it("exits 1 when a model fails, keeps going with the others, and never prints the token (human, --json, --token)", async () => {
    const h = await hub({ repos: [repo("acme/ok"), repo("acme/gated", "gated")], tokens: [DEFAULT_TOKEN, "hf_SECRETsecret123"], gatedAcceptedTokens: [DEFAULT_TOKEN] });
    const root = await tempDir();
    const secret = "hf_SECRETsecret123";
    const human = await runMain(["acme/ok", "acme/gated", "--root", root], { HF_ENDPOINT: h.url, HF_TOKEN: secret });
    expect(human.code).toBe(1);
    expect(human.stderr).toMatch(/FAILED +huggingface +acme\/gated@main: acme\/gated is gated and the token's account has not been granted access/);
    expect(human.stdout).toMatch(/Summary: 1 downloaded, 0 skipped, 1 failed/);

    const json = await runMain(["acme/gated", "--root", root, "--json", "--token", secret], { HF_ENDPOINT: h.url });
    expect(json.code).toBe(1);
    const events = json.stdout.trim().split("\n").map((line) => JSON.parse(line) as { type: string; model?: string; error?: string });
    expect(events[0]).toMatchObject({ type: "start", models: 1 });
    expect(events.find((e) => e.type === "model-error")).toMatchObject({ model: "huggingface:acme/gated@main", error: expect.stringMatching(/is gated/) });
    expect(events.at(-1)).toMatchObject({ type: "summary", ok: false, failed: 1, models: [{ id: "acme/gated", status: "failed" }] });
    for (const out of [human.stdout, human.stderr, json.stdout, json.stderr]) expect(out).not.toContain(secret);
    expect(h.requests.some((q) => q.authorization === `Bearer ${secret}`)).toBe(true); // it was really used
  });

  it("exits 2 with a clear message on usage and configuration errors", async () => {
    const none = await runMain([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/Nothing to download: give model ids/);

    const dir = await tempDir({
      "projects/tts.ts": `import { defineProject } from ${SRC}; export default defineProject({ name: "tts", models: [{ id: "org/a" }, { id: "org/b", source: "hugingface" }] });`,
    });
    const unknown = await runMain(["--project", "nope", "--projects-dir", join(dir, "projects")]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Found problems in the project configuration:\n  - \S*projects\/tts\.ts: models\[1\]\.source: unknown source "hugingface"; available: huggingface, hf, modelscope, ms/);
    const bad = await runMain(["-c", "0", "org/a"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/`--concurrency` must be an integer from 1 to 1024/);
    const badId = await runMain(["../../etc"]);
    expect(badId.code).toBe(2);
    expect(badId.stderr).toMatch(/has more than one "\/"/);
  });

  it("refuses to fill a Pod's ephemeral disk when no network volume is attached", async () => {
    const r = await runMain(["org/a"], { RUNPOD_POD_ID: "abc123", HOME: await tempDir() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no network volume \(RUNPOD_VOLUME_ID is not set\).*deleted with the Pod/s);
    expect(r.stderr).toMatch(/--root DIR/);
  });

  // Child processes: these are about the compiled CLI's plugin loader (tsx registered at run time), which the test
  // runner's own TypeScript loading would stand in for in-process.
  it("the compiled CLI loads the shipped projects, which import download-models/define through the package's exports", async () => {
    const r = await runCli(["list", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { projects: { name: string }[] }).projects.map((p) => p.name).sort()).toEqual(["speaker-diarization", "tts"]);
  });

  it("loads plugin files from a folder outside any ES module package (no package.json)", async () => {
    const dir = await tempDir({
      "projects/tts.ts": `import { defineProject } from ${SRC}; export default defineProject({ name: "tts", models: [{ id: "org/x" }] });`,
      "projects/empty.ts": `export const notDefault = 1;`,
    });
    const r = await runCli(["list", "--projects-dir", join(dir, "projects")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/empty\.ts: has no default export; it must `export default defineProject/);
    expect(r.stderr).not.toMatch(/tts\.ts/);
  });

  it("selects projects, lists them with the deduplicated count, and prints env", async () => {
    const h = await hub({ repos: [repo("acme/shared"), repo("acme/only-b"), msRepo("iic/x")] });
    const root = await tempDir();
    const dir = await tempDir({
      "projects/a.ts": `export default { name: "a", description: "first", models: [{ id: "acme/shared" }] };`,
      "projects/b.ts": `export default { name: "b", models: [{ id: "acme/shared" }, { id: "acme/only-b" }, { id: "iic/x", source: "modelscope" }] };`,
    });
    const pdir = join(dir, "projects");
    const list = await runMain(["list", "--projects-dir", pdir, "--root", root]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain("a - first\n  huggingface:\n    acme/shared@main  [missing]");
    expect(list.stdout).toContain("  modelscope:\n    iic/x@master  [missing]");
    expect(list.stdout).toContain("2 projects, 4 model declarations, 3 distinct models to download (1 shared between projects, fetched once)");

    const endpoints = { HF_ENDPOINT: h.url, MODELSCOPE_ENDPOINT: h.url };
    const dl = await runMain(["--project", "a", "--projects-dir", pdir, "--root", root], endpoints);
    expect(dl.code).toBe(0);
    expect(dl.stdout).toMatch(/1 model;/);
    expect(dl.stdout).not.toContain("MODELSCOPE_CACHE");
    const after = await runMain(["list", "--projects-dir", pdir, "--root", root]);
    expect(after.stdout).toContain("acme/shared@main  [complete]");

    const both = await runMain(["--project", "b", "--projects-dir", pdir, "--root", root], endpoints);
    expect(both.code).toBe(0);
    expect(both.stdout).toMatch(/skipped +huggingface +acme\/shared@main/);
    expect(both.stdout).toMatch(/ModelScope cache .*\/modelscope \(--root/);
    expect(both.stdout).toContain(`export HF_HUB_CACHE=${root}/huggingface/hub`);
    expect(both.stdout).toContain(`export MODELSCOPE_CACHE=${root}/modelscope`);
    expect((await runMain(["list", "--projects-dir", pdir, "--root", root])).stdout).toContain("iic/x@master  [complete]");

    const env = await runMain(["env", "--root", root]);
    expect(env.stdout).toBe(
      `# HuggingFace cache: ${root}/huggingface/hub (--root ${root})\n` +
        `# ModelScope cache: ${root}/modelscope (--root ${root})\n` +
        `export HF_HUB_CACHE=${root}/huggingface/hub\nexport HF_HUB_OFFLINE=1\nexport MODELSCOPE_CACHE=${root}/modelscope\n` +
        "# ModelScope pipelines load offline only from a directory: pass what `download-models path <id>` prints to pipeline(model=...)\n",
    );
  });

  it("sends known ModelScope owners to ModelScope, prints consumer paths, and points at the other hub on not-found", async () => {
    const h = await hub({ repos: [repo("acme/a"), msRepo("iic/sv.model"), msRepo("acme/ms-only")] });
    const root = await tempDir();
    const endpoints = { HF_ENDPOINT: h.url, MODELSCOPE_ENDPOINT: h.url };
    const dl = await runMain(["iic/sv.model", "acme/a", "ms:acme/ms-only", "--root", root], endpoints);
    expect(dl.code).toBe(0);
    expect(dl.stdout).toMatch(/modelscope +iic\/sv\.model@master/);
    expect(dl.stdout).toMatch(/huggingface +acme\/a@main/);

    const path = await runMain(["path", "iic/sv.model", "acme/a", "--root", root]);
    expect(path.code).toBe(0);
    const commit = (await readFile(join(root, "huggingface/hub/models--acme--a/refs/main"), "utf8")).trim();
    expect(path.stdout).toBe(`${root}/modelscope/models/iic/sv___model\n${root}/huggingface/hub/models--acme--a/snapshots/${commit}\n`);
    const missing = await runMain(["path", "iic/absent", "--root", root]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe("");
    expect(missing.stderr).toMatch(/modelscope iic\/absent@master is not downloaded .*Run: download-models ms:iic\/absent@master --root/);

    const onHf = await runMain(["acme/ms-only", "--root", root], endpoints);
    expect(onHf.code).toBe(1);
    expect(onHf.stderr).toMatch(/acme\/ms-only was not found on HuggingFace.*ms:acme\/ms-only \(or --source modelscope/s);
    const onMs = await runMain(["damo/only-on-hf", "--root", root], endpoints);
    expect(onMs.code).toBe(1);
    expect(onMs.stderr).toMatch(/damo\/only-on-hf was not found on ModelScope.*hf:damo\/only-on-hf \(or --source huggingface/s);
    expect(h.requests.every((r) => r.path.startsWith("/"))).toBe(true);
  });

  it("names the sub-models a ModelScope pipeline loads by id when the run did not include them", async () => {
    const config = { task: "speaker-diarization", model: { speaker_model: "iic/sv", vad_model: "iic/vad" }, change_locator: "damo/scl" };
    const h = await hub({
      repos: [
        makeRepo({ source: "modelscope", id: "iic/diarization", files: [{ path: "configuration.json", text: JSON.stringify(config) }] }),
        msRepo("iic/sv"),
      ],
    });
    const root = await tempDir();
    const r = await runMain(["iic/diarization", "iic/sv", "--root", root], { MODELSCOPE_ENDPOINT: h.url });
    expect(r.code).toBe(0);
    const notes = r.stderr.split("\n").filter((l) => l.startsWith("Note: "));
    expect(notes).toEqual([
      expect.stringMatching(/^Note: iic\/diarization loads iic\/vad \(configuration.json "model.vad_model"\) at run time.*declare \{ source: "modelscope", id: "iic\/vad" \}/),
      expect.stringMatching(/^Note: iic\/diarization loads damo\/scl \(configuration.json "change_locator"\)/),
    ]);
  });

  it("--dry-run shows what would be downloaded and writes nothing", async () => {
    const h = await hub({ repos: [repo("acme/a")] });
    const root = await tempDir();
    const r = await runMain(["acme/a", "--root", root, "--dry-run"], { HF_ENDPOINT: h.url });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/would get +huggingface +acme\/a@main \([0-9a-f]{10}\): 2 files, 40.0 kB, 40.0 kB to download/);
    expect(r.stdout).toMatch(/40.0 kB would be downloaded \(dry run, nothing written\)/);
    expect(h.requests.some((q) => q.server === "cdn")).toBe(false);
  });
});
