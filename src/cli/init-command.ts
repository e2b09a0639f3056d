import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { basename, join, relative } from "node:path";
import type { Env } from "../store/index.ts";
import { UsageError } from "../errors.ts";
import { guessSource, parseModelRef } from "../sources/index.ts";
import { projectDirs, type PluginDirs } from "../select/index.ts";
import type { Output } from "./reporter.ts";

export interface InitOptions extends PluginDirs {
  ids: string[];
  name?: string;
}

const SOURCES: Record<string, string> = { hf: "huggingface", huggingface: "huggingface", ms: "modelscope", modelscope: "modelscope" };

/** A project name from the folder's name: letters, digits, ".", "_", "-". */
function nameFrom(dir: string): string {
  const name = basename(dir).replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[^A-Za-z0-9]+/, "");
  return name || "app";
}

function modelLine(ref: string): string {
  const parsed = parseModelRef(ref);
  const source = parsed.source ? (SOURCES[parsed.source] ?? parsed.source) : guessSource(parsed.id);
  const fields = [`id: ${JSON.stringify(parsed.id)}`, ...(source !== "huggingface" ? [`source: ${JSON.stringify(source)}`] : []), ...(parsed.revision ? [`revision: ${JSON.stringify(parsed.revision)}`] : [])];
  return `    { ${fields.join(", ")} },`;
}

function starter(name: string, ids: string[]): string {
  const models = ids.length
    ? ids.map(modelLine)
    : [
        '    // { id: "org/name" },                                   a HuggingFace model, its default branch',
        '    // { id: "org/name", revision: "v1.0", include: ["*.json", "*.safetensors"] },   a tag, only some files',
        '    // { id: "iic/some-model", source: "modelscope" },       a ModelScope model',
      ];
  return [
    'import { defineProject } from "download-models/define";',
    "",
    "// The models this service needs: `download-models list` shows them, `download-models lock` pins their commits in",
    "// models.lock.json (commit it), `download-models --all` downloads them.",
    "export default defineProject({",
    `  name: ${JSON.stringify(name)},`,
    "  models: [",
    ...models,
    "  ],",
    "});",
    "",
  ].join("\n");
}

/**
 * `download-models init [ids…]`: a starter project file in the projects folder (default ./projects), with the ids
 * given, and the commands that come next. An existing file is never overwritten.
 */
export async function initCommand(options: InitOptions, io: Output, env: Env): Promise<number> {
  const dir = projectDirs(options, env)[0]!;
  const name = options.name ?? nameFrom(process.cwd());
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new UsageError(`--name ${name}: use letters, digits, ".", "_" and "-".`);
  for (const id of options.ids) modelLine(id); // a bad id fails before anything is written
  const file = join(dir, `${name}.ts`);
  if (existsSync(file)) throw new UsageError(`${file} already exists: edit it, or pass --name OTHER for another project.`);
  await mkdir(dir, { recursive: true });
  await writeFile(file, starter(name, options.ids), { flag: "wx" });
  const shown = relative(process.cwd(), file) || file;
  io.out(`wrote ${shown} (project "${name}"${options.ids.length ? `, ${options.ids.length} model${options.ids.length === 1 ? "" : "s"}` : ""})`);
  // Project files import download-models/define: that works only where the package is installed.
  let installed = true;
  try {
    createRequire(join(dir, "x.js")).resolve("download-models/define");
  } catch {
    installed = false;
  }
  const flags = options.projectsDir?.length ? ` --projects-dir ${options.projectsDir[0]}` : "";
  io.out("Next:");
  if (!installed) io.out("  npm install --save-dev download-models          project files import download-models/define");
  if (!options.ids.length) io.out(`  edit ${shown}: the models your service needs`);
  io.out(`  npx download-models list${flags}                         what the projects declare, and what is on disk`);
  io.out(`  npx download-models lock${flags}                         pin each model's commit and file hashes in models.lock.json; commit it`);
  io.out(`  npx download-models --all${flags}                        download them (in a Pod: onto the network volume)`);
  return 0;
}
