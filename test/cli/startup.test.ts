import { readdirSync, readFileSync } from "node:fs";
import nodeModule from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeRepo } from "@download-models/local-hub";
import { runCli } from "../helpers/cli.ts";
import { hub } from "../helpers/hub.ts";
import { tempDir } from "../helpers/tmp.ts";

// Help and version answer from the CLI's own files and commander: the lock code, zod, undici and the store
// layouts load only when a command runs (a cold `--help` on a network volume should not read 180 modules).
const PROBE = join(import.meta.dirname, "..", "helpers", "load-probe.mjs");

async function modulesLoadedBy(args: string[], env: Record<string, string> = {}): Promise<{ ours: string[]; packages: string[] }> {
  const file = join(await tempDir(), "loaded.txt");
  const result = await runCli(args, { ...env, NODE_OPTIONS: `--import ${PROBE}`, LOAD_PROBE_FILE: file });
  expect(result.code, result.stderr).toBe(0);
  const urls = readFileSync(file, "utf8").split("\n").filter((u) => u.startsWith("file:"));
  const packages = [...new Set(urls.flatMap((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1] ?? []))];
  const ours = urls.flatMap((u) => /\/src\/(.+)\.[jt]s$/.exec(u)?.[1] ?? []);
  return { ours, packages };
}

describe("start-up", () => {
  for (const args of [["--help"], ["--version"], ["help"], ["help", "lock"], ["prune", "--help"]]) {
    it(`\`${args.join(" ")}\` loads only the CLI, util and commander`, async () => {
      const { ours, packages } = await modulesLoadedBy(args);
      expect(ours).toContain("cli/main"); // the probe saw the program load
      expect(packages).toEqual(["commander"]);
      expect(ours.filter((m) => !/^(cli|util)\//.test(m) && m !== "errors")).toEqual([]);
    });
  }

  // zod costs 65-125 ms to load (every locale it ships); it is loaded only when something is validated.
  it("a download of ids on the command line into an empty store does not load zod; reading what it wrote does", { timeout: 60_000 }, async () => {
    const h = await hub({ repos: [makeRepo({ id: "acme/small", files: [{ path: "config.json", text: "{}\n" }, { path: "model.bin", size: 20_000 }] })] });
    const root = await tempDir();
    const env = { HF_ENDPOINT: h.url, HOME: root };
    const fresh = await modulesLoadedBy(["acme/small", "--root", root, "--quiet"], env);
    expect(fresh.ours).toContain("transfer/fetch-file"); // it did download
    expect(fresh.packages).toContain("undici");
    expect(fresh.packages).not.toContain("zod");
    // The next run reads the model's manifest to find it complete: that is validated, so zod loads (the probe sees it).
    const again = await modulesLoadedBy(["acme/small", "--root", root, "--quiet"], env);
    expect(again.packages).toContain("zod");
  });

  // Node 22.1+ only: Node 20 has no compile cache.
  it.skipIf(!("enableCompileCache" in nodeModule))("keeps the compiled code of its modules for the next start (Node 22.1+)", async () => {
    const tmp = await tempDir();
    const result = await runCli(["--version"], { TMPDIR: tmp });
    expect(result.code, result.stderr).toBe(0);
    expect(readdirSync(join(tmp, "node-compile-cache"), { recursive: true }).length).toBeGreaterThan(1);
  });
});
