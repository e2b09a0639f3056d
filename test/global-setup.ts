import { execFileSync } from "node:child_process";
import { join } from "node:path";

// CLI tests run bin/download-models.js, which uses the compiled dist/: build it from the current sources first.
export default function setup(): void {
  const root = join(import.meta.dirname, "..");
  execFileSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "tsconfig.build.json")], { stdio: "inherit" });
}
