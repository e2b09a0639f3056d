import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { writeFile } from "node:fs/promises";
import { findPackageRoot, packageRoot } from "../../src/util/package-root.ts";
import { InstallationError } from "../../src/errors.ts";
import { tempDir } from "../helpers/tmp.ts";

describe("the package's own root", () => {
  it("is the checkout this code runs from", () => {
    expect(packageRoot).toBe(join(import.meta.dirname, "..", ".."));
    expect(findPackageRoot(join(packageRoot, "src", "util"))).toBe(packageRoot);
  });

  it("is an InstallationError that says what to do when no package.json of this tool is above the code", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "package.json"), "{ not json"); // someone else's, broken: not ours, not a crash
    let error: unknown;
    try {
      findPackageRoot(dir);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InstallationError);
    expect((error as Error).message).toBe(
      `download-models cannot find its own package.json in ${dir} or any folder above it: the installation is incomplete. ` +
        `Install it again (npm install download-models, or npm ci in a checkout).`,
    );
  });
});
