#!/usr/bin/env node
// Thin entry. The core runs compiled (dist/, built by `npm ci` through the prepare script): loading it through
// a TypeScript compiler at run time costs ~60 MB of memory. Without dist/ it falls back to compiling src/ on the
// fly. Project and downloader plugins stay TypeScript, compiled when they are loaded.
import { existsSync } from "node:fs";
import nodeModule from "node:module";
import { setFlagsFromString } from "node:v8";

// Node 22.1+ keeps the compiled code of the modules it loads (in the system's temp folder) and reuses it at the next
// start: ~20-30 ms less of every command. Node 20 has no such cache.
nodeModule.enableCompileCache?.();

// Writes, opens, renames and the resume checkpoints' fsyncs share libuv's thread pool (4 threads by default): a
// few slow fsyncs must not leave the writes of every connection queued behind them. Read at the pool's first use.
process.env.UV_THREADPOOL_SIZE ??= "16";
// undici parses HTTP with llhttp compiled to WebAssembly. V8 compiles it with its baseline compiler, then again with
// its optimizing one once the parser is hot: that second compile of llhttp's one huge function costs ~0.3 CPU s per
// run (a tenth of a 400-file download), and buys nothing here, where the parser only reads headers and counts body
// bytes. Set before undici is loaded; a flag of the compiler, not of the program.
setFlagsFromString("--liftoff-only");

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
const code = await main(process.argv, {
  out: (line) => process.stdout.write(line + "\n"),
  err: (line) => process.stderr.write(line + "\n"),
  isTTY: Boolean(process.stdout.isTTY && process.stderr.isTTY),
});
// Interrupted: the summary is printed; sockets still closing must not hold the exit back.
if (code === 130 || code === 143) process.exit(code);
process.exitCode = code;
