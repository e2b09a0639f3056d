import { randomBytes } from "node:crypto";
import { lstat, open, rename, mkdir, rm, stat, statfs, symlink, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";

/** Write a file so that readers see either the old or the whole new content: temp + fsync + rename. */
export async function writeFileAtomic(path: string, data: string | Uint8Array | Iterable<string>): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${randomBytes(4).toString("hex")}.incomplete`;
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
  const temp = `${link}.${randomBytes(6).toString("hex")}.incomplete`;
  try {
    await symlink(target, temp);
  } catch (error) {
    if (!fallback || !symlinksUnsupported(error)) throw error;
    await fallback(temp);
  }
  try {
    await rename(temp, link);
  } catch (error) {
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
