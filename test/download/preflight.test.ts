import { describe, expect, it, onTestFinished } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { builtinDownloaders, createRegistry } from "../../src/sources/registry.ts";
import { resolveRoots } from "../../src/store/roots.ts";
import { preflight, rootProblem } from "../../src/download/preflight.ts";
import { RootError, UsageError } from "../../src/errors.ts";
import { hfModel, msModel } from "../helpers/hub.ts";
import { tempDir } from "../helpers/tmp.ts";

const registry = createRegistry(builtinDownloaders);

describe("preflight: what is wrong is said before any request", () => {
  it("a root that is a file, or lies below one, is refused naming the path and why", async () => {
    const dir = await tempDir({ "volume.img": "x" });
    const file = join(dir, "volume.img");
    expect(await rootProblem(file)).toBe(`${file} is not a directory (a file stands where a folder is needed)`);
    expect(await rootProblem(join(file, "models", "hub"))).toBe(`${file} is not a directory (a file stands where a folder is needed)`);
    const roots = resolveRoots({ root: file, env: {} });
    const err = await preflight({ models: [hfModel("acme/x")], registry, roots, env: {}, write: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RootError);
    expect((err as RootError).exitCode).toBe(2);
    expect((err as Error).message).toContain(file);
  });

  it("a root that does not exist yet but can be created is fine, and nothing is created to find out", async () => {
    const dir = await tempDir();
    expect(await rootProblem(join(dir, "new", "deeper"))).toBeUndefined();
    await expect(preflight({ models: [hfModel("acme/x"), msModel("iic/y")], registry, roots: resolveRoots({ root: join(dir, "new"), env: {} }), env: {}, write: true })).resolves.toBeUndefined();
    await expect(mkdir(join(dir, "new"))).resolves.toBeUndefined(); // it was not created by the check
  });

  it("a read-only filesystem is named as such (EROFS), not as a missing folder", async (ctx) => {
    const dir = join(await tempDir(), "ro");
    await mkdir(dir);
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", dir], { stdio: "ignore" });
    } catch {
      return ctx.skip(); // mounting is refused here: reported as skipped
    }
    onTestFinished(() => void execFileSync("umount", ["-l", dir], { stdio: "ignore" }));
    expect(await rootProblem(join(dir, "huggingface", "hub"))).toMatch(/read-only \(EROFS\)/);
  });

  it("endpoint variables that are not URLs are refused naming the variable", async () => {
    const roots = resolveRoots({ root: await tempDir(), env: {} });
    const hf = await preflight({ models: [hfModel("acme/x")], registry, roots, env: { HF_ENDPOINT: "not a url" }, write: true }).catch((e: unknown) => e);
    expect(hf).toBeInstanceOf(UsageError);
    expect((hf as Error).message).toMatch(/^HF_ENDPOINT="not a url" is not a URL/);
    const ms = await preflight({ models: [msModel("iic/x")], registry, roots, env: { MODELSCOPE_ENDPOINT: "ftp://mirror" }, write: true }).catch((e: unknown) => e);
    expect((ms as Error).message).toMatch(/MODELSCOPE_ENDPOINT must be an http:\/\/ or https:\/\/ URL/);
    // only the sources the selection uses are checked
    await expect(preflight({ models: [msModel("iic/x")], registry, roots, env: { HF_ENDPOINT: "not a url" }, write: true })).resolves.toBeUndefined();
    await writeFile(join(roots.plain, "x"), "").catch(() => {});
  });
});
