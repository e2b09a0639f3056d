import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { runCli } from "../helpers/cli.ts";
import { tempDir } from "../helpers/tmp.ts";

// A plugin file cannot end a run silently: one that exits, or never finishes loading, is an error naming it.
const good = `export default { name: "good", models: [{ id: "acme/a" }] };\n`;

describe("loading plugin files", () => {
  it("a project file that calls process.exit is an error naming the file (exit 2), not a silent exit 0", { timeout: 60_000 }, async () => {
    const dir = await tempDir({ "projects/good.ts": good, "projects/quits.ts": `process.exit(0);\nexport default { name: "q", models: [] };\n` });
    const r = await runCli(["list", "--projects-dir", join(dir, "projects")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("quits.ts: called process.exit(0) while loading: a plugin file must not end the run");
    expect(r.stderr).not.toContain("it must `export default");
    expect(r.stderr).not.toContain("good.ts");
  });

  it("a project file that never finishes loading is an error naming the file after the bound", { timeout: 60_000 }, async () => {
    const dir = await tempDir({ "projects/a-good.ts": good, "projects/spins.ts": `while (true) {}\nexport default {};\n`, "projects/z-good.ts": good.replace('"good"', '"z"') });
    const r = await runCli(["--all", "--frozen", "--projects-dir", join(dir, "projects")], { DOWNLOAD_MODELS_PLUGIN_TIMEOUT_MS: "8000" });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("spins.ts: did not finish loading within 8 s (an endless loop, or a wait at import?)");
    expect(r.stderr).not.toMatch(/a-good\.ts|z-good\.ts/);
  });

  it("a downloader that exits or spins while loading is named too; a failing import does not end in the export hint", { timeout: 60_000 }, async () => {
    const dir = await tempDir({
      "projects/good.ts": good,
      "downloaders/quits.ts": `process.exit(3);\n`,
      "downloaders/spins.ts": `for (;;) {}\n`,
      "downloaders/throws.ts": `throw new Error("no config here");\n`,
      "downloaders/empty.ts": `export const x = 1;\n`,
    });
    const r = await runCli(["list", "--projects-dir", join(dir, "projects"), "--downloaders-dir", join(dir, "downloaders")], { DOWNLOAD_MODELS_PLUGIN_TIMEOUT_MS: "8000" });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("quits.ts: called process.exit(3) while loading");
    expect(r.stderr).toContain("spins.ts: did not finish loading within 8 s");
    expect(r.stderr).toMatch(/throws\.ts: failed to load: no config here\n/);
    expect(r.stderr).toContain("empty.ts: has no default export; it must `export default defineDownloader({ name, resolve })`");
  });
});
