import { describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { makeRepo } from "@download-models/local-hub";
import { hub } from "../helpers/hub.ts";
import { runMain } from "../helpers/cli.ts";
import { tempDir } from "../helpers/tmp.ts";

const project = (name: string, models: object[]) => `export default ${JSON.stringify({ name, models })};`;

describe("status and prune through the CLI", () => {
  it("status reports locked, not locked, missing and undeclared with zero requests; prune lists what --yes then removes", { timeout: 60_000 }, async () => {
    const keep = makeRepo({ id: "acme/keep", files: [{ path: "w.bin", size: 20_000 }], extraBranches: { v1: [{ path: "old.bin", size: 7000 }] } });
    const later = makeRepo({ id: "acme/later", files: [{ path: "w.bin", size: 3000 }] });
    const stray = makeRepo({ id: "acme/stray", files: [{ path: "s.bin", size: 5000 }] });
    const h = await hub({ repos: [keep, later, stray] });
    const dir = await tempDir({ "projects/app.ts": project("app", [{ id: "acme/keep" }, { id: "acme/later" }]) });
    const root = await tempDir();
    const env = { HF_ENDPOINT: h.url, HOME: root };
    const cli = (...args: string[]) => runMain([...args, "--projects-dir", join(dir, "projects"), "--root", root], env);
    expect((await runMain(["lock", "hf:acme/keep", "--projects-dir", join(dir, "projects")], env)).code).toBe(0);
    expect((await runMain(["acme/keep", "acme/keep@v1", "acme/stray", "--root", root, "--projects-dir", join(dir, "projects")], env)).code).toBe(0);

    h.resetStats();
    const status = await cli("status");
    expect(h.requests).toEqual([]);
    expect(status.code).toBe(0);
    const lines = status.stdout.split("\n");
    expect(lines[0]).toMatch(/^hf:acme\/keep@main +complete +20.0 kB [0-9a-f]{12}$/);
    expect(lines[1]).toMatch(/^hf:acme\/later@main +missing  \(not locked\)$/);
    // Each section is a table: a column starts at the same offset on every row, sizes end at the same offset.
    expect(lines[1]!.indexOf("missing")).toBe(lines[0]!.indexOf("complete"));
    const at = lines.indexOf("Not declared by a selected project or the lock:");
    expect(at).toBeGreaterThan(1);
    const undeclared = lines.slice(at + 1, at + 3);
    expect(undeclared[0]).toMatch(/^ {2}hf:acme\/keep +revision v1 \([0-9a-f]{12}\) +7\.00 kB$/);
    expect(undeclared[1]).toMatch(/^ {2}hf:acme\/stray +model +[\d.]+ kB$/);
    expect(undeclared[1]!.indexOf("model")).toBe(undeclared[0]!.indexOf("revision"));
    expect(undeclared[1]!.length).toBe(undeclared[0]!.length);
    expect(status.stdout).toMatch(new RegExp(`huggingface ${root}/huggingface/hub: [\\d.]+ kB used by download-models, .* free`));
    const json = JSON.parse((await cli("status", "--json")).stdout) as { models: { id: string; state: string; locked: boolean }[] };
    expect(json.models).toEqual([expect.objectContaining({ id: "acme/keep", state: "complete", locked: true }), expect.objectContaining({ id: "acme/later", state: "missing", locked: false })]);

    const dry = await cli("prune");
    expect(dry.code).toBe(0);
    const would = dry.stdout.split("\n").filter((l) => l.startsWith("would remove "));
    expect(would.length).toBeGreaterThan(0);
    expect(would.some((l) => l.includes("models--acme--stray"))).toBe(true);
    expect(would.some((l) => l.includes("models--acme--keep") && l.includes("(hf:acme/keep:"))).toBe(true);
    expect(dry.stdout).toMatch(/Would free [\d.]+ kB \(\d+ paths\)\.\nRun again with --yes to remove them\./);
    expect(existsSync(join(root, "huggingface", "hub", "models--acme--stray"))).toBe(true);

    const yes = await cli("prune", "--yes", "--older-than", "90m");
    expect(yes.code).toBe(0);
    const removed = yes.stdout.split("\n").filter((l) => l.startsWith("removed ")).map((l) => l.replace(/^removed /, ""));
    expect(removed).toEqual(would.map((l) => l.replace(/^would remove /, "")));
    expect(yes.stdout).toMatch(/Freed [\d.]+ kB/);
    expect(existsSync(join(root, "huggingface", "hub", "models--acme--stray"))).toBe(false);
    expect((await cli("status")).stdout).not.toContain("Not declared");
    expect((await cli("verify", "hf:acme/keep")).code).toBe(0);
    expect((await cli("prune")).stdout).toContain("Nothing to prune.");
    const badDuration = await cli("prune", "--older-than", "soon");
    expect(badDuration.code).toBe(2);
    expect(badDuration.stderr).toContain("`--older-than` must be a number and a unit");
  });
});
