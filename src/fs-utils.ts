import { randomBytes } from "node:crypto";
import { open, rename, mkdir, rm, stat, symlink } from "node:fs/promises";
import { dirname, resolve, sep } from "node:path";

/** Write a file so that readers see either the old or the whole new content: temp + fsync + rename. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${randomBytes(4).toString("hex")}.incomplete`;
  const fh = await open(temp, "w");
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
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

export async function sizeOf(path: string): Promise<number | undefined> {
  try {
    const st = await stat(path);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}

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

/** `base/rel`, guaranteed to stay inside `base` (throws otherwise). */
export function inside(base: string, rel: string): string {
  const full = resolve(base, rel);
  if (!full.startsWith(resolve(base) + sep)) throw new Error(`"${rel}" escapes ${base}`);
  return full;
}
