import { dirname, resolve } from "node:path";

/**
 * The stages of src/, highest first: a stage may import only stages with a lower number. "root" is the shared
 * public files (types.ts, errors.ts) that every stage may use; "entry" is the public doors (index.ts, define.ts).
 */
export const STAGES: Record<string, number> = {
  entry: 100,
  cli: 12,
  image: 11,
  serve: 11,
  remote: 10,
  download: 9,
  select: 8,
  store: 7,
  lockfile: 5,
  sources: 6,
  transfer: 4,
  net: 3,
  util: 2,
  root: 0,
};

/** The stage of a path relative to src/. */
export function stageOf(path: string): string {
  const slash = path.indexOf("/");
  if (slash < 0) return path === "index.ts" || path === "define.ts" ? "entry" : "root";
  return path.slice(0, slash);
}

export interface Import {
  file: string;
  /** Absolute path of the imported file. */
  target: string;
  typeOnly: boolean;
}

const IMPORT = /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^"';]*?\s+from\s+)?["'](\.[^"']+)["']/g;
const DYNAMIC = /import\(\s*["'](\.[^"']+)["']\s*\)/g;

/** Relative imports of one file: static, re-exports and import() with a literal path. */
export function importsOf(file: string, text: string): Import[] {
  const found: Import[] = [];
  for (const m of text.matchAll(IMPORT)) {
    found.push({ file, target: resolve(dirname(file), m[3]!), typeOnly: Boolean(m[2]) });
  }
  for (const m of text.matchAll(DYNAMIC)) found.push({ file, target: resolve(dirname(file), m[1]!), typeOnly: false });
  return found;
}
