import { describe, expect, it } from "vitest";
import { lstat, readFile, readlink, realpath } from "node:fs/promises";
import { join } from "node:path";
import { makeRepo } from "@download-models/local-hub";
import { builtinDownloaders, createRegistry } from "../../src/sources/registry.ts";
import { bake } from "../../src/store/bake.ts";
import { download, hfModel, hub, msModel } from "../helpers/hub.ts";
import { tempDir } from "../helpers/tmp.ts";
import { runMain } from "../helpers/cli.ts";

describe("bake (the serverless builder's copy step)", () => {
  it("copies a ModelScope model with its markers and relative links, and a HuggingFace one, complete and verifiable", async () => {
    const h = await hub({
      repos: [
        makeRepo({ source: "modelscope", id: "iic/vad.v2", files: [{ path: "configuration.json", text: "{}\n" }, { path: "model.pt", size: 50_000 }] }),
        makeRepo({ id: "acme/voice", files: [{ path: "config.json", text: "{}\n" }, { path: "model.safetensors", size: 40_000 }] }),
      ],
    });
    const from = await tempDir();
    const models = [msModel("iic/vad.v2"), hfModel("acme/voice")];
    expect((await download(h, from, models)).downloaded).toBe(2);
    const to = join(await tempDir(), "models");
    const baked = await bake({ models, registry: createRegistry(builtinDownloaders), from, to, env: {} });
    expect(baked.map((b) => b.path)).toEqual(["modelscope/models/iic/vad___v2", expect.stringMatching(/^huggingface\/hub\/models--acme--voice\/snapshots\/[0-9a-f]{40}$/)]);

    const src = join(from, "modelscope", "models", "iic", "vad___v2");
    const dir = join(to, "modelscope", "models", "iic", "vad___v2");
    for (const f of [".msc", ".mdl", ".mv", "configuration.json", "model.pt"]) {
      expect((await lstat(join(dir, f))).isFile()).toBe(true);
      expect((await readFile(join(dir, f))).equals(await readFile(join(src, f)))).toBe(true);
    }
    expect(await readlink(join(to, "modelscope", "models", "iic", "vad.v2"))).toBe("vad___v2");
    expect(await readlink(join(to, "modelscope", "hub", "iic", "vad___v2"))).toBe("../../models/iic/vad___v2");
    expect(await realpath(join(to, "modelscope", "iic", "vad.v2"))).toBe(await realpath(dir));

    const sums = await readFile(join(to, ".download-models", "SHA256SUMS"), "utf8");
    expect(sums).toContain("  modelscope/models/iic/vad___v2/model.pt\n");
    const verify = await runMain(["verify", "--root", to]);
    expect(verify.stdout).toContain("2 ok, 0 corrupt");
    expect(verify.code).toBe(0);
  });

  it("is the `bake` subcommand: selects projects, copies them, writes baked.txt with the notes; refuses what is incomplete", async () => {
    const h = await hub({
      repos: [
        makeRepo({ id: "acme/voice", files: [{ path: "config.json", text: "{}\n" }, { path: "model.safetensors", size: 30_000 }] }),
        makeRepo({ id: "acme/other", files: [{ path: "config.json", text: "{}\n" }] }),
      ],
    });
    const dir = await tempDir({
      "projects/voice.ts": `export default { name: "voice", models: [{ id: "acme/voice" }] };`,
      "projects/other.ts": `export default { name: "other", models: [{ id: "acme/other" }] };`,
    });
    const projects = join(dir, "projects");
    const from = join(dir, "cache");
    const to = join(dir, "image-models");
    const env = { HF_ENDPOINT: h.url };
    expect((await runMain(["--project", "voice", "--root", from, "--projects-dir", projects, "-q"], env)).code).toBe(0);

    const usage = await runMain(["bake", "--from", from, "--to", to, "--projects-dir", projects]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/Name what to bake: --all, or --project NAME/);
    const noTo = await runMain(["bake", "--from", from, "--all"]);
    expect(noTo.code).toBe(2);
    expect(noTo.stderr).toMatch(/required option '--to <dir>' not specified/);
    const incomplete = await runMain(["bake", "--all", "--from", from, "--to", to, "--projects-dir", projects]);
    expect(incomplete.code).toBe(1);
    expect(incomplete.stderr).toMatch(/huggingface acme\/other@main is not complete under .*download it first/);

    const baked = await runMain(["bake", "--project", "voice", "--from", from, "--to", to, "--projects-dir", projects, "--note", "built by a test", "--note", "projects: voice"]);
    expect(baked.stderr).toBe("");
    expect(baked.code).toBe(0);
    expect(baked.stdout).toMatch(/^baked  huggingface  acme\/voice@main  [0-9a-f]{40}  2 files, 30.0 kB  huggingface\/hub\/models--acme--voice\/snapshots\/[0-9a-f]{40}$/m);
    expect(baked.stdout).toContain(`Baked 1 model (30.0 kB) into ${to}`);
    expect(await readFile(join(to, ".download-models", "baked.txt"), "utf8")).toMatch(/^# built by a test\n# projects: voice\n# source id revision/);
    const verify = await runMain(["verify", "--project", "voice", "--root", to, "--projects-dir", projects]);
    expect(verify.stdout).toContain("1 ok, 0 corrupt");
    expect(verify.code).toBe(0);
  });
});
