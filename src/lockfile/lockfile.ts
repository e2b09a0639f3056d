import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { ModelRequest, Snapshot } from "../types.ts";
import { DownloadModelsError } from "../errors.ts";
import { matchesFilters, patternSet, removeCutShortWrites, selectionKey, writeFileAtomic } from "../util/index.ts";
import { acquireLease, type LeaseTiming } from "../transfer/index.ts";
import { LOCKFILE_VERSION, lockSchema, type Lock, type LockEntry, type LockFile } from "./schema.ts";

export { LOCKFILE_VERSION, type Lock, type LockEntry, type LockFile } from "./schema.ts";

export const LOCKFILE_NAME = "models.lock.json";

/** A lockfile problem the user must fix by hand (or by upgrading): exit code 2. */
export class LockfileError extends DownloadModelsError {
  override name = "LockfileError";
  override readonly exitCode = 2;
}

export function emptyLock(): Lock {
  return { lockfileVersion: LOCKFILE_VERSION, models: [] };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * `--lockfile FILE` when given, else `models.lock.json` beside the (first) projects folder: the repository that
 * holds `projects/` is what the lock pins.
 */
export function lockPathFor(projectsDirs: readonly string[], option?: string): string {
  if (option) return resolve(option);
  const first = projectsDirs[0];
  if (!first) throw new LockfileError("No projects folder to put models.lock.json beside: pass --lockfile FILE");
  return join(dirname(resolve(first)), LOCKFILE_NAME);
}

/** A missing lockfile is an empty lock; one from a newer tool or with bad content is refused, naming the file. */
export async function readLock(path: string): Promise<Lock> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return emptyLock();
    throw new LockfileError(`Cannot read the lockfile ${path}: ${(error as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new LockfileError(`${path} is not valid JSON (${(error as Error).message}). Fix it, or delete it and run \`download-models lock\` again.`);
  }
  const version = (data as { lockfileVersion?: unknown } | null)?.lockfileVersion;
  if (typeof version === "number" && version !== LOCKFILE_VERSION) {
    throw new LockfileError(
      `${path} has lockfileVersion ${version}; this download-models reads lockfileVersion ${LOCKFILE_VERSION} only. ` +
        (version > LOCKFILE_VERSION ? "It was written by a newer download-models: upgrade download-models to use it." : "Run `download-models lock` to rewrite it."),
    );
  }
  const parsed = lockSchema().safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join(".") || "(top level)"}: ${i.message}`);
    throw new LockfileError(`${path} is not a valid lockfile:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
  return normalizeLock(parsed.data);
}

/** Stable JSON: fixed key order, models and files sorted, 2-space indent, final newline. */
export function serializeLock(lock: Lock): string {
  const models = normalizeLock(lock).models.map((m) => ({
    source: m.source, id: m.id, revision: m.revision, include: m.include, exclude: m.exclude,
    commit: m.commit, projects: m.projects, files: m.files.map(orderedFile),
    ...(m.unselected?.length ? { unselected: m.unselected.map(orderedFile) } : {}),
  }));
  return JSON.stringify({ lockfileVersion: LOCKFILE_VERSION, models }, null, 2) + "\n";
}

function orderedFile(f: LockFile): LockFile {
  return {
    path: f.path, size: f.size,
    ...(f.sha256 ? { sha256: f.sha256 } : {}), ...(f.gitSha1 ? { gitSha1: f.gitSha1 } : {}),
    ...(f.gitOid ? { gitOid: f.gitOid } : {}), ...(f.revision ? { revision: f.revision } : {}),
  };
}

function normalizeLock(lock: Lock): Lock {
  const models = lock.models.map((m) => ({
    ...m,
    include: patternSet(m.include),
    exclude: patternSet(m.exclude),
    projects: [...new Set(m.projects)].sort(compare),
    files: [...m.files].sort((a, b) => compare(a.path, b.path)),
    ...(m.unselected?.length ? { unselected: [...m.unselected].sort((a, b) => compare(a.path, b.path)) } : {}),
  }));
  models.sort((a, b) => compare(selectionKey(a), selectionKey(b)));
  return { lockfileVersion: LOCKFILE_VERSION, models };
}

/** Readers see the old lock or the whole new one, never half of it. */
export async function writeLock(path: string, lock: Lock): Promise<void> {
  // A killed `lock` may have left `models.lock.json.<writer>.incomplete` in the user's repository: not for good.
  await removeCutShortWrites(path);
  await writeFileAtomic(path, serializeLock(lock));
}

const LEASE: LeaseTiming = { heartbeatMs: 2000, staleMs: 20_000, pollMs: 50 };

/**
 * Every read-modify-write of a lockfile holds `<lockfile>.lease` (the same O_EXCL lease as the file downloads, no
 * flock): two `lock` runs, or a `lock` and a download that adds entries, at once would otherwise each write the
 * lock they read, and the later write would drop the other's entries.
 */
export async function withLockfileLease<T>(path: string, work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  const lease = await acquireLease({ path: `${path}.lease`, timing: LEASE, signal });
  try {
    return await work();
  } finally {
    await lease.release();
  }
}

/**
 * The lock entry for `model` from the full listing it resolved to: the files its filters select, with sizes and
 * hashes only (URLs and request headers carry tokens and hosts; they never go into the lock).
 */
export function entryFromSnapshot(model: ModelRequest, snapshot: Snapshot): LockEntry {
  const toLock = (f: Snapshot["files"][number]) =>
    orderedFile({ path: f.path, size: f.size, sha256: f.sha256, gitSha1: f.gitSha1, gitOid: f.gitOid, revision: f.fileRevision } as LockFile);
  const selected = (f: { path: string }) => matchesFilters(f.path, model.include, model.exclude);
  const byPath = (a: LockFile, b: LockFile) => compare(a.path, b.path);
  const files = snapshot.files.filter(selected).map(toLock).sort(byPath);
  const unselected = snapshot.files.filter((f) => !selected(f)).map(toLock).sort(byPath);
  return {
    source: model.source, id: model.id, revision: model.revision,
    include: patternSet(model.include), exclude: patternSet(model.exclude),
    commit: snapshot.commit, projects: [...new Set(model.projects)].sort(compare), files,
    ...(unselected.length ? { unselected } : {}),
  };
}

export function findEntry(lock: Lock, model: Pick<ModelRequest, "source" | "id" | "revision" | "include" | "exclude">): LockEntry | undefined {
  const key = selectionKey(model);
  return lock.models.find((m) => selectionKey(m) === key);
}

/** The lock with `entry` added, or replacing the entry of the same model. */
export function putEntry(lock: Lock, entry: LockEntry): Lock {
  const key = selectionKey(entry);
  return normalizeLock({ lockfileVersion: LOCKFILE_VERSION, models: [...lock.models.filter((m) => selectionKey(m) !== key), entry] });
}

/** A lock entry as the request it pins (for stores and manifests). */
export function requestOf(entry: LockEntry): ModelRequest {
  return { source: entry.source, id: entry.id, revision: entry.revision, include: entry.include, exclude: entry.exclude, projects: entry.projects };
}
