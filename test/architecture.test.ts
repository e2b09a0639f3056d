import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { importsOf, STAGES, stageOf, type Import } from "./helpers/imports.ts";
import { codeMap } from "../scripts/code-map.ts";

// The shape of src/: stage folders with one door each, imports running one way (higher stages use lower ones).
// A failing case lists every breach (file -> file), so the fix is visible in the test output.
const src = resolve(dirname(fileURLToPath(import.meta.url)), "../src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

const files = sourceFiles(src);
const imports: Import[] = files.flatMap((file) => importsOf(file, readFileSync(file, "utf8")));
const inside = imports.filter((i) => i.target.startsWith(src + "/"));
const rel = (path: string) => relative(src, path);

describe("the shape of src/", () => {
  it("keeps only the public entry files at the root", () => {
    const root = readdirSync(src).filter((name) => !statSync(join(src, name)).isDirectory());
    expect(root.sort()).toEqual(["define.ts", "errors.ts", "index.ts", "types.ts"]);
  });

  it("names every folder after a known stage, each with its door", () => {
    const folders = readdirSync(src).filter((name) => statSync(join(src, name)).isDirectory());
    expect(folders.filter((f) => !(f in STAGES))).toEqual([]);
    expect(folders.filter((f) => !files.includes(join(src, f, "index.ts")))).toEqual([]);
  });

  it("has tests in folders named like the stages they test", () => {
    const tests = resolve(src, "../test");
    const extra = new Set(["helpers", "serverless", "local-hub"]);
    const folders = readdirSync(tests).filter((name) => statSync(join(tests, name)).isDirectory() && !extra.has(name));
    expect(folders.filter((f) => !statSync(join(src, f), { throwIfNoEntry: false })?.isDirectory())).toEqual([]);
  });

  it("enters a stage only through its index.ts", () => {
    const pastTheDoor = inside
      .filter((i) => {
        const from = stageOf(rel(i.file));
        const to = stageOf(rel(i.target));
        return to !== from && to !== "root" && rel(i.target) !== `${to}/index.ts`;
      })
      .map((i) => `${rel(i.file)} -> ${rel(i.target)}`);
    expect(pastTheDoor).toEqual([]);
  });

  it("imports only downwards: no stage reaches up to a higher one", () => {
    const upwards = inside
      .filter((i) => {
        const from = stageOf(rel(i.file));
        const to = stageOf(rel(i.target));
        if (from === to || from === "entry") return false;
        return STAGES[to]! >= STAGES[from]!;
      })
      .map((i) => `${rel(i.file)} (${stageOf(rel(i.file))}) -> ${rel(i.target)} (${stageOf(rel(i.target))})`);
    expect(upwards).toEqual([]);
  });

  it("has no import cycles between files, type imports included", () => {
    const graph = new Map<string, string[]>();
    for (const i of inside) graph.set(i.file, [...(graph.get(i.file) ?? []), i.target]);
    const cycles: string[] = [];
    const state = new Map<string, "open" | "done">();
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === "done") return;
      if (state.get(file) === "open") {
        cycles.push([...path.slice(path.indexOf(file)), file].map(rel).join(" -> "));
        return;
      }
      state.set(file, "open");
      for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
      state.set(file, "done");
    };
    for (const file of files) visit(file, []);
    expect(cycles).toEqual([]);
  });

  it("is mapped in README.md as it is on disk, stage by stage in rank order (`npm run code-map` rewrites the map)", () => {
    const readme = readFileSync(resolve(src, "../README.md"), "utf8");
    expect(codeMap(readme, src)).toBe(readme);
    const map = readme.slice(readme.indexOf("<!-- code-map"), readme.indexOf("<!-- /code-map -->"));
    const mapped = [...map.matchAll(/^\| `([\w-]+)\/` \|/gm)].map((m) => m[1]!);
    const ranks = mapped.map((f) => STAGES[f]);
    expect(ranks).toEqual([...ranks].sort((a, b) => b! - a!));
  });

  it("spells the caches' folder and record names only in the layouts: everything else reads the store", () => {
    const spelled = /join\([^)]*["'](refs|snapshots|trees|\.no_exist)["']|["']\.(msc|mdl|mv)["']|models--/;
    const found = files
      .filter((file) => !rel(file).startsWith("store/layouts/"))
      .flatMap((file) =>
        readFileSync(file, "utf8")
          .split("\n")
          .map((line, n) => ({ line, at: `${rel(file)}:${n + 1}` }))
          .filter(({ line }) => spelled.test(line) && !/^\s*(\/\/|\/\*|\*)/.test(line)),
      )
      .map(({ line, at }) => `${at}: ${line.trim()}`);
    expect(found).toEqual([]);
  });
});
