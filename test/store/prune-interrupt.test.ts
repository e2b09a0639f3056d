import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { cp, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeRepo } from "@download-models/local-hub";
import { emptyLock } from "../../src/lockfile/lockfile.ts";
import { applyPrune, planPrune } from "../../src/store/prune.ts";
import { findComplete } from "../../src/store/manifest.ts";
import { openStore } from "../../src/store/layouts/index.ts";
import { formatStatus, volumeStatus } from "../../src/store/status.ts";
import { download, hfModel, hub, msModel } from "../helpers/hub.ts";
import { registry, rootsOf } from "../helpers/volume.ts";
import { tempDir } from "../helpers/tmp.ts";

const HF = 24;
const MS = 3;
const files = [{ path: "w.bin", size: 3000 }, { path: "sub/config.json", text: "{}" }, { path: "tok.json", size: 500 }];
const keep = [hfModel("acme/m0")];

/** Apply a saved plan slowly in a child process and stop it with `signal` after `after` removals. */
async function interrupt(root: string, signal: NodeJS.Signals, after: number): Promise<{ lines: number; total: number }> {
  const plan = await planPrune({ selection: keep, lock: emptyLock(), registry, roots: rootsOf(root) });
  const planPath = join(root, "plan.json");
  await writeFile(planPath, JSON.stringify(plan));
  const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "..", "helpers", "prune-slowly.ts"), planPath, "15"], { stdio: ["ignore", "pipe", "inherit"] });
  let lines = 0;
  const exited = new Promise<void>((done) => child.on("exit", () => done()));
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    lines += d.split("\n").filter((l) => l && l !== "done").length;
    if (lines >= Math.max(1, after)) child.kill(signal);
  });
  await exited;
  return { lines, total: plan.items.length };
}

const hfDirs = async (root: string) => (await readdir(join(root, "huggingface", "hub")).catch(() => [] as string[])).filter((n) => n.startsWith("models--")).sort();
const msDirs = async (root: string) => (await readdir(join(root, "modelscope", "models", "iic")).catch(() => [] as string[])).sort();

describe("an interrupted prune", () => {
  it("is finished by the next prune, and status says so meanwhile (SIGINT and SIGKILL at the start, middle and end)", { timeout: 300_000 }, async () => {
    const repos = [
      ...Array.from({ length: HF }, (_, i) => makeRepo({ id: `acme/m${i}`, files })),
      ...Array.from({ length: MS }, (_, i) => makeRepo({ id: `iic/s${i}`, source: "modelscope", files })),
    ];
    const h = await hub({ repos });
    const template = await tempDir();
    const all = [...Array.from({ length: HF }, (_, i) => hfModel(`acme/m${i}`)), ...Array.from({ length: MS }, (_, i) => msModel(`iic/s${i}`))];
    expect((await download(h, template, all)).downloaded).toBe(HF + MS);

    for (const signal of ["SIGINT", "SIGKILL"] as const) {
      for (const where of ["start", "middle", "end"] as const) {
        const root = await tempDir();
        await cp(template, root, { recursive: true, verbatimSymlinks: true });
        const roots = rootsOf(root);
        const total = (await planPrune({ selection: keep, lock: emptyLock(), registry, roots })).items.length;
        const after = where === "start" ? 1 : where === "middle" ? Math.floor(total / 2) : total - 1;
        const { lines } = await interrupt(root, signal, after);
        expect(lines, `${signal} at the ${where}`).toBeLessThan(total); // stopped before it was done

        // Models whose manifests are gone are still this tool's, and status says the next prune finishes them.
        const status = await volumeStatus({ selection: keep, lock: emptyLock(), registry, roots });
        const left = status.undeclared.filter((u) => u.interruptedPrune);
        if (where !== "end") {
          // (At the end only the last model's empty record folder is left: nothing worth a status line.)
          expect(left.length, `${signal} at the ${where}`).toBeGreaterThan(0);
          expect(formatStatus(status).join("\n")).toContain("a prune of it was interrupted: `download-models prune --yes` finishes it");
        }
        expect(status.undeclared.filter((u) => !u.ours)).toEqual([]);

        const again = await planPrune({ selection: keep, lock: emptyLock(), registry, roots });
        expect(again.items.length, `${signal} at the ${where}`).toBeGreaterThan(0);
        await applyPrune(again);
        expect(await hfDirs(root), `${signal} at the ${where}`).toEqual(["models--acme--m0"]);
        expect(await msDirs(root)).toEqual([]);
        expect(await findComplete(openStore({ downloader: registry.get("huggingface"), model: keep[0]!, roots }), keep[0]!)).toBeDefined();
        const done = await planPrune({ selection: keep, lock: emptyLock(), registry, roots });
        expect(done.items).toEqual([]);
        expect((await volumeStatus({ selection: keep, lock: emptyLock(), registry, roots })).undeclared).toEqual([]);
      }
    }
  });
});
