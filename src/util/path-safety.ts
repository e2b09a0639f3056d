import { lstat, mkdir, realpath } from "node:fs/promises";
import { isAbsolute, relative, resolve, sep } from "node:path";
import { UnsafePathError } from "../errors.ts";

/**
 * Every rule about where this tool may write, in one place: listed paths must be plain relative paths, joined paths
 * must stay inside their base, and no directory may be reached through a symbolic link that leads out of its root.
 */

/** Why a listed path is unsafe to create under a model directory, or undefined when it is fine. */
export function unsafePathReason(path: string): string | undefined {
  if (path.length === 0) return "empty path";
  if (path.length > 1024) return "path longer than 1024 characters";
  if (path.includes("\0")) return "NUL byte in path";
  if (path.includes("\\")) return "backslash in path";
  if (path.startsWith("/")) return "absolute path";
  for (const seg of path.split("/")) {
    if (seg === "" || seg === "." || seg === "..") return `"${seg}" path segment`;
    if (Buffer.byteLength(seg) > 255) return "path segment longer than 255 bytes";
  }
  return undefined;
}

/** Is `path` `base` itself or below it? */
export function isWithin(base: string, path: string): boolean {
  const rel = relative(base, path);
  return rel === "" || (rel !== ".." && !rel.startsWith(".." + sep) && !isAbsolute(rel));
}

/** `path` relative to `base`; throws when it is not strictly inside. */
export function relativeWithin(base: string, path: string): string {
  const rel = relative(base, path);
  if (rel === "" || !isWithin(base, path)) throw new UnsafePathError(`${path} is outside ${base}`, path, "outside the root");
  return rel;
}

/** `base/rel`, guaranteed to stay inside `base` (throws otherwise). */
export function inside(base: string, rel: string): string {
  const full = resolve(base, rel);
  if (!full.startsWith(resolve(base) + sep)) throw new UnsafePathError(`"${rel}" escapes ${base}`, rel, "escapes its directory");
  return full;
}

/**
 * What one run knows about the directories it writes to: which it has checked and created. Per run, not per process:
 * a long-lived process whose cache was deleted meanwhile must check and create again.
 */
export interface Disk {
  /** Refuse `dir` when an existing part of it below `root` is a symbolic link out of `root`. Checked once per run. */
  confine(root: string, dir: string): Promise<void>;
  /** `confine`, then `mkdir -p`, once per directory per run (hundreds of small files share a few folders). */
  makeDir(root: string, dir: string): Promise<void>;
}

export function createDisk(): Disk {
  const checked = new Map<string, Promise<void>>();
  const made = new Map<string, Promise<void>>();
  const links: LinkCheck = { fine: new Set(), realRoots: new Map() };
  const memo = (cache: Map<string, Promise<void>>, key: string, make: () => Promise<void>) => {
    let p = cache.get(key);
    if (!p) {
      p = make();
      p.catch(() => cache.delete(key));
      cache.set(key, p);
    }
    return p;
  };
  const disk: Disk = {
    confine: (root, dir) => memo(checked, `${root}\0${dir}`, () => checkLinks(resolve(root), resolve(dir), links)),
    makeDir: (root, dir) =>
      memo(made, dir, async () => {
        await disk.confine(root, dir);
        await mkdir(dir, { recursive: true });
      }),
  };
  return disk;
}

/**
 * What one run learnt about the parts of its paths: the folders of a model share most of their path (hundreds of
 * snapshot subfolders under one model folder), which is then looked at once, not once per folder.
 */
interface LinkCheck {
  /** `root\0path` of parts that exist and are no link out of their root. */
  fine: Set<string>;
  /** Each root's real path, once it exists. */
  realRoots: Map<string, Promise<string>>;
}

async function checkLinks(root: string, dir: string, links: LinkCheck): Promise<void> {
  if (!isWithin(root, dir)) throw new UnsafePathError(`Refusing to write to ${dir}: it is outside ${root}.`, dir, "outside the root");
  let realRoot: string;
  try {
    let known = links.realRoots.get(root);
    if (!known) {
      known = realpath(root);
      links.realRoots.set(root, known);
      known.catch(() => links.realRoots.delete(root)); // made later in the run: looked up again
    }
    realRoot = await known;
  } catch {
    return; // the root does not exist yet: nothing below it can be a link
  }
  let current = root;
  for (const part of relative(root, dir).split(sep).filter(Boolean)) {
    current = `${current}${sep}${part}`;
    const key = `${root}\0${current}`;
    if (links.fine.has(key)) continue;
    let st;
    try {
      st = await lstat(current);
    } catch {
      return; // does not exist yet: it will be created as a real directory
    }
    if (st.isSymbolicLink()) {
      const target = await realpath(current).catch(() => "(a dangling link)");
      if (!isWithin(realRoot, target)) {
        throw new UnsafePathError(
          `Refusing to write through ${current}: it is a symbolic link to ${target}, outside ${root}. Remove the link, or choose another --root.`,
          current,
          "symbolic link out of the root",
        );
      }
    }
    links.fine.add(key);
  }
}
