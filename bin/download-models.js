#!/usr/bin/env node
// Thin entry: let Node import TypeScript (our src/ and the users' plugin files) without a build step, then run the CLI.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv, {
  out: (line) => process.stdout.write(line + "\n"),
  err: (line) => process.stderr.write(line + "\n"),
  isTTY: Boolean(process.stderr.isTTY),
});
