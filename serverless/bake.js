#!/usr/bin/env node
// Entry of the builder stage's bake step (Dockerfile.serverless); same shape as bin/download-models.js.
import { existsSync } from "node:fs";

const compiled = new URL("../dist/src/serverless/bake-command.js", import.meta.url);
let bakeCommand, errors;
if (existsSync(compiled)) {
  ({ bakeCommand } = await import(compiled.href));
  errors = await import(new URL("../dist/src/errors.js", import.meta.url).href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ bakeCommand } = await import("../src/serverless/bake-command.ts"));
  errors = await import("../src/errors.ts");
}
try {
  process.exitCode = await bakeCommand(process.argv.slice(2), { out: (l) => console.log(l), err: (l) => console.error(l), isTTY: false }, process.env);
} catch (error) {
  console.error(`bake: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = error instanceof errors.DownloadModelsError ? error.exitCode : 1;
}
