import { lstat, realpath } from "node:fs/promises";
import { relative, resolve, sep, isAbsolute } from "node:path";
import { DownloadModelsError } from "./errors.ts";

const checked = new Map<string, Promise<void>>();

function within(base: string, path: string): boolean {
  const rel = relative(base, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/**
 * Refuse to write into `dir` when any existing part of it below `root` is a symbolic link that leads outside
 * `root` (someone, or something, left `models--x/blobs -> /etc` on a shared volume). Checked once per directory.
 */
export function confine(root: string, dir: string): Promise<void> {
  const key = `${root}\0${dir}`;
  let p = checked.get(key);
  if (!p) {
    p = check(resolve(root), resolve(dir));
    p.catch(() => checked.delete(key));
    checked.set(key, p);
  }
  return p;
}

async function check(root: string, dir: string): Promise<void> {
  if (!within(root, dir)) throw new DownloadModelsError(`Refusing to write to ${dir}: it is outside ${root}.`);
  let realRoot: string;
  try {
    realRoot = await realpath(root);
  } catch {
    return; // the root does not exist yet: nothing below it can be a link
  }
  let current = root;
  for (const part of relative(root, dir).split(sep).filter(Boolean)) {
    current = `${current}${sep}${part}`;
    let st;
    try {
      st = await lstat(current);
    } catch {
      return; // does not exist yet: it will be created as a real directory
    }
    if (st.isSymbolicLink()) {
      const target = await realpath(current).catch(() => "(a dangling link)");
      if (!within(realRoot, target)) {
        throw new DownloadModelsError(
          `Refusing to write through ${current}: it is a symbolic link to ${target}, outside ${root}. Remove the link, or choose another --root.`,
        );
      }
    }
  }
}
