import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { loadProjects, validateProject } from "../../src/select/project.ts";
import { ConfigError } from "../../src/errors.ts";
import { builtinDownloaders, createRegistry, loadRegistry } from "../../src/sources/registry.ts";
import { projectModels } from "../../src/select/requests.ts";
import { tempDir } from "../helpers/tmp.ts";

const SRC = join(import.meta.dirname, "..", "..", "src", "define.ts");
const sources = createRegistry(builtinDownloaders).names();

async function problemsOf(files: Record<string, string>): Promise<string[]> {
  const dir = await tempDir(files);
  try {
    await loadProjects([join(dir, "projects")], sources);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((p) => p.replace(dir + "/", ""));
    throw error;
  }
  return [];
}

describe("project plugins", () => {
  it("reports every problem at once as `file: path: message`, never a raw ZodError", async () => {
    const problems = await problemsOf({
      "projects/tts.ts": `import { defineProject } from ${JSON.stringify(SRC)};
        export default defineProject({ name: "tts", models: [
          { id: "org/ok" },
          { id: "org/also-ok", revision: "" },
          { id: "../../etc" },
          { id: "org/x", revison: "main" },
          { id: 42 },
        ] } as any);`,
    });
    expect(problems).toEqual([
      expect.stringMatching(/^projects\/tts\.ts: models\[1\]\.revision: empty revision/),
      expect.stringMatching(/^projects\/tts\.ts: models\[2\]\.id: "\.\.\/\.\.\/etc" has more than one "\/"/),
      expect.stringMatching(/^projects\/tts\.ts: models\[3\]: Unrecognized key: "revison"/),
      expect.stringMatching(/^projects\/tts\.ts: models\[4\]\.id: expected a repository id/),
    ]);
    expect(problems.join("\n")).not.toMatch(/"code":|ZodError/);
  });

  it("names an unknown source and lists the ones that exist", async () => {
    const problems = await problemsOf({
      "projects/a.ts": `export default { name: "a", models: [{ id: "org/x", source: "modelscop" }] };`,
    });
    expect(problems).toEqual([
      'projects/a.ts: models[0].source: unknown source "modelscop"; available: huggingface, hf, modelscope, ms',
    ]);
  });

  it("reports files that throw on import, export nothing, or collide by name, each by file", async () => {
    const problems = await problemsOf({
      "projects/a.ts": `throw new Error("boom at import");`,
      "projects/b.ts": `export const notDefault = 1;`,
      "projects/c.ts": `export default "garbage";`,
      "projects/d.ts": `export default { name: "same", models: [] };`,
      "projects/e.ts": `export default { name: "same", models: [] };`,
      "projects/_helper.ts": `throw new Error("helpers starting with _ are not plugins");`,
    });
    expect(problems).toEqual([
      expect.stringMatching(/^projects\/a\.ts: failed to load: boom at import/),
      expect.stringMatching(/^projects\/b\.ts: has no default export/),
      expect.stringMatching(/^projects\/c\.ts: /),
      expect.stringMatching(/^projects\/e\.ts: name: project "same" is also defined in .*projects\/d\.ts$/),
    ]);
  });

  it("accepts a single pattern string and applies project-level source defaults", () => {
    const r = validateProject({ name: "p", source: "hf", models: [{ id: "a/b", include: "*.json" }] }, "/x/p.ts");
    if (!("project" in r)) throw new Error(r.problems.join("\n"));
    expect(r.project.models[0]!.include).toEqual(["*.json"]);
    const models = projectModels([r.project], createRegistry(builtinDownloaders));
    expect(models[0]).toMatchObject({ source: "huggingface", id: "a/b", revision: "main", include: ["*.json"] });
  });

  it("fetches a model declared by two projects once, remembering both", () => {
    const registry = createRegistry(builtinDownloaders);
    const base = { file: "f.ts" };
    const models = projectModels(
      [
        { ...base, name: "a", models: [{ id: "org/shared" }, { id: "org/only-a" }] },
        { ...base, name: "b", models: [{ id: "org/shared", source: "hf" }, { id: "iic/x", source: "modelscope" }] },
      ],
      registry,
    );
    expect(models.map((m) => `${m.source}:${m.id}@${m.revision}`)).toEqual([
      "huggingface:org/shared@main",
      "huggingface:org/only-a@main",
      "modelscope:iic/x@master",
    ]);
    expect(models[0]!.projects).toEqual(["a", "b"]);
  });

  it("loads the shipped example projects without problems", async () => {
    const registry = await loadRegistry([join(import.meta.dirname, "..", "..", "downloaders")]);
    const projects = await loadProjects([join(import.meta.dirname, "..", "..", "projects")], registry.names());
    expect(projects.map((p) => p.name).sort()).toEqual(["speaker-diarization", "tts"]);
  });
});

describe("custom downloaders", () => {
  it("loads a user downloader and refuses one that takes a built-in name or has no resolve", async () => {
    const dir = await tempDir({
      "downloaders/url.ts": `export default { name: "url", resolve: async () => ({ revision: "x", commit: "x", files: [] }) };`,
    });
    const registry = await loadRegistry([join(dir, "downloaders")]);
    expect(registry.get("url").name).toBe("url");
    expect(() => registry.get("nope")).toThrow(/Unknown source "nope". Available: huggingface, hf, modelscope, ms, url/);

    const bad = await tempDir({
      "downloaders/hf2.ts": `export default { name: "hf", resolve: async () => ({}) };`,
      "downloaders/nores.ts": `export default { name: "nores" };`,
    });
    const error = await loadRegistry([join(bad, "downloaders")]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    const text = (error as ConfigError).message;
    expect(text).toContain('hf2.ts: name "hf" is already a built-in source');
    expect(text).toMatch(/nores\.ts: resolve: expected a function/);
  });
});
