import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

// README.md's map of src/ lists every stage folder with its files. The descriptions are written by hand in the
// README; the folders and files come from the tree, so the map cannot drift from it. `npm run code-map` rewrites the
// table; test/architecture.test.ts fails while it differs from the tree.

const START = "<!-- code-map: the file lists are generated from src/ by `npm run code-map` -->";
const END = "<!-- /code-map -->";
const HEAD = "| stage | what it holds | files |\n|---|---|---|";

function filesUnder(dir: string, base = dir): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return filesUnder(path, base);
      return name.endsWith(".ts") ? [relative(base, path).replace(/\.ts$/, "")] : [];
    });
}

/**
 * The README with its map rewritten from `srcDir`: a row per stage folder, in the README's order, each with the
 * description it has there; a folder the README lacks gets a row to describe, a row whose folder is gone is dropped.
 */
export function codeMap(readme: string, srcDir: string): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md has no code map between ${START} and ${END}`);
  const described = new Map<string, string>();
  for (const line of readme.slice(start + START.length, end).split("\n")) {
    const cells = /^\|\s*`([\w-]+)\/`\s*\|(.*?)\|/.exec(line);
    if (cells) described.set(cells[1]!, cells[2]!.trim());
  }
  const folders = readdirSync(srcDir).filter((name) => statSync(join(srcDir, name)).isDirectory());
  const order = [...described.keys()].filter((f) => folders.includes(f)).concat(folders.filter((f) => !described.has(f)).sort());
  const rows = order.map((f) => `| \`${f}/\` | ${described.get(f) ?? "(describe this stage)"} | ${filesUnder(join(srcDir, f)).map((n) => `\`${n}\``).join(" ")} |`);
  return `${readme.slice(0, start)}${START}\n${HEAD}\n${rows.join("\n")}\n${readme.slice(end)}`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(fileURLToPath(import.meta.url), "../..");
  const path = join(root, "README.md");
  const before = readFileSync(path, "utf8");
  const after = codeMap(before, join(root, "src"));
  if (after !== before) writeFileSync(path, after);
  console.log(after === before ? "README.md: the code map is up to date" : "README.md: code map rewritten");
}
