import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { InstallationError } from "../errors.ts";

function packageName(manifest: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name;
  } catch {
    return undefined; // unreadable: not this tool's
  }
}

/** The nearest folder at or above `start` whose package.json is this tool's. */
export function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, "package.json");
    if (packageName(manifest) === "download-models") return dir;
    if (dirname(dir) === dir) {
      throw new InstallationError(
        `download-models cannot find its own package.json in ${start} or any folder above it: the installation is incomplete. ` +
          `Install it again (npm install download-models, or npm ci in a checkout).`,
      );
    }
  }
}

/** The checkout/package this code runs from (src/ under tsx, or the compiled dist/src/): its `projects/` and `downloaders/` are the defaults. */
export const packageRoot = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
