#!/usr/bin/env node
// Thin entry. The core runs compiled (dist/, built by `npm ci` through the prepare script): loading it through
// a TypeScript compiler at run time costs ~60 MB of memory. Without dist/ it falls back to compiling src/ on the
// fly. Project and downloader plugins stay TypeScript, compiled when they are loaded.
import { existsSync } from "node:fs";

const compiled = new URL("../dist/src/cli/index.js", import.meta.url);
let main;
if (existsSync(compiled)) {
  ({ main } = await import(compiled.href));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import("../src/cli/index.ts"));
}
// `download-models list | head`: a closed pipe ends the output, not the program with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error) => {
    if (error.code !== "EPIPE") throw error;
  });
}
process.exitCode = await main(process.argv, {
  out: (line) => process.stdout.write(line + "\n"),
  err: (line) => process.stderr.write(line + "\n"),
  isTTY: Boolean(process.stdout.isTTY && process.stderr.isTTY),
});
