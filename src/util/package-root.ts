import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function find(): string {
  // Works from src/ (tsx, tests) and from the compiled dist/src/ alike.
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === "download-models") return dir;
    if (dirname(dir) === dir) throw new Error("download-models: cannot find its own package.json");
  }
}

/** The checkout/package this code runs from: its `projects/` and `downloaders/` are the defaults. */
export const packageRoot = find();
