import { describe, expect, it } from "vitest";
import { lstat, readFile, readlink, realpath } from "node:fs/promises";
import { join } from "node:path";
import { makeRepo } from "../local-hub/index.ts";
import { builtinDownloaders, createRegistry } from "../src/registry.ts";
import { bake } from "../src/serverless/bake.ts";
import { download, hfModel, hub, msModel } from "./helpers/hub.ts";
import { tempDir } from "./helpers/tmp.ts";
import { runCli } from "./helpers/cli.ts";

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
    const verify = await runCli(["verify", "--root", to]);
    expect(verify.stdout).toContain("2 ok, 0 corrupt");
    expect(verify.code).toBe(0);
  });
});
