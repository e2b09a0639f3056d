import { createHash, randomBytes } from "node:crypto";
import { lstat, open, readdir, rename, mkdir, rm, stat, statfs, symlink, type FileHandle } from "node:fs/promises";
import { hostname } from "node:os";
import { basename, dirname, join } from "node:path";
import { processIsGone } from "./process.ts";

/**
 * Who writes a temp file, in its name: `<8 hex of the host name>-<pid>`. A write that a killed process cut short
 * is then known as dead at once by the next run on the same machine, not only once it is old.
 */
const WRITER = `${createHash("sha256").update(hostname()).digest("hex").slice(0, 8)}-${process.pid}`;
const WRITER_OF = /^([0-9a-f]{8})-(\d+)-[0-9a-f]+$/;

/** `<path>.<host>-<pid>-<random>.incomplete`: where an atomic write puts its bytes before the rename. */
const tempFor = (path: string, random: number) => `${path}.${WRITER}-${randomBytes(random).toString("hex")}.incomplete`;

/** A write in flight finishes within moments: a temp file this old was left by a write a killed process cut short. */
const CUT_SHORT_MS = 60_000;

/**
 * Remove the temp files of writes to `path` that a killed process cut short (`<path>.<writer>.incomplete`, see
 * `writeFileAtomic` and `symlinkAtomic`): those of a process of this machine that is gone, and any a minute old (a
 * process of another machine, or of an older version that did not name itself). A write in flight is left alone.
 */
export async function removeCutShortWrites(path: string, now = Date.now()): Promise<void> {
  const dir = dirname(path);
  const prefix = `${basename(path)}.`;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(prefix) || !name.endsWith(".incomplete")) continue;
    const tag = name.slice(prefix.length, -".incomplete".length);
    if (!/^[0-9a-f-]+$/.test(tag)) continue; // another file's name (`<path>.json.…`), not a write of `path`
    const file = join(dir, name);
    if (!writerIsGone(tag)) {
      const st = await lstat(file).catch(() => undefined);
      if (!st || now - st.mtimeMs <= CUT_SHORT_MS) continue;
    }
    await rm(file, { force: true });
  }
}

/** True when the temp file's writer was a process of this machine that no longer runs. */
function writerIsGone(tag: string): boolean {
  const m = WRITER_OF.exec(tag);
  if (!m || `${m[1]}-${m[2]}` === WRITER || m[1] !== WRITER.slice(0, 8)) return false;
  return processIsGone(Number(m[2]));
}

/** Write a file so that readers see either the old or the whole new content: temp + fsync + rename. */
export async function writeFileAtomic(path: string, data: string | Uint8Array | Iterable<string>): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = tempFor(path, 4);
  const fh = await open(temp, "w");
  try {
    if (typeof data === "string" || data instanceof Uint8Array) await fh.writeFile(data);
    else await writeChunks(fh, data);
    await fh.sync();
  } catch (error) {
    // Disk full: no half-written or empty record is left behind under any name.
    await fh.close().catch(() => {});
    await rm(temp, { force: true });
    throw error;
  }
  await fh.close();
  try {
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** Text made piece by piece (a record of 300,000 files), written in 1 MiB batches: never one huge string. */
async function writeChunks(fh: FileHandle, chunks: Iterable<string>): Promise<void> {
  let batch: string[] = [];
  let length = 0;
  for (const chunk of chunks) {
    batch.push(chunk);
    length += chunk.length;
    if (length < 1 << 20) continue;
    // writeFile writes all of it from the current position (write() may write less).
    await fh.writeFile(batch.join(""));
    batch = [];
    length = 0;
  }
  if (length > 0) await fh.writeFile(batch.join(""));
}

/** The error of a filesystem that has no symbolic links (FAT, some network mounts). */
export function symlinksUnsupported(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "EPERM" || code === "ENOTSUP" || code === "EOPNOTSUPP";
}

/**
 * Make `link` a symbolic link to `target` so that readers see the old entry or the new link, never nothing: a
 * uniquely named temp link beside it (two processes may link the same path at once), then rename. On a filesystem
 * without symlinks, `fallback` writes something else to the temp path (HF: a copy of the blob); without one, the
 * error is thrown.
 */
export async function symlinkAtomic(target: string, link: string, fallback?: (temp: string) => Promise<void>): Promise<void> {
  const temp = tempFor(link, 6);
  try {
    try {
      await symlink(target, temp);
    } catch (error) {
      if (!fallback || !symlinksUnsupported(error)) throw error;
      await fallback(temp);
    }
    await rename(temp, link);
  } catch (error) {
    // A copy cut short (disk full) is not left beside the link either: it may be as big as the model's largest file.
    await rm(temp, { force: true });
    throw error;
  }
}

/** Is there an entry at `path` (a file, a directory, or a link, even a dangling one)? */
export async function entryExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

export async function sizeOf(path: string): Promise<number | undefined> {
  try {
    const st = await stat(path);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}

/** Free bytes for an unprivileged writer on the filesystem holding `dir` (its nearest existing ancestor). */
export async function freeBytes(dir: string): Promise<number | undefined> {
  for (let d = dir; ; d = dirname(d)) {
    try {
      const st = await statfs(d);
      return st.bavail * st.bsize;
    } catch {
      if (dirname(d) === d) return undefined;
    }
  }
}
