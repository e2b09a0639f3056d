import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.ts";
import { tempDir } from "../helpers/tmp.ts";

// Help and version answer from the CLI's own files and commander: the lock code, zod, undici and the store
// layouts load only when a command runs (a cold `--help` on a network volume should not read 180 modules).
const PROBE = join(import.meta.dirname, "..", "helpers", "load-probe.mjs");

async function modulesLoadedBy(args: string[]): Promise<{ ours: string[]; packages: string[] }> {
  const file = join(await tempDir(), "loaded.txt");
  const result = await runCli(args, { NODE_OPTIONS: `--import ${PROBE}`, LOAD_PROBE_FILE: file });
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
});
