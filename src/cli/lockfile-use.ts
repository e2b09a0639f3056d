import { access } from "node:fs/promises";
import { basename } from "node:path";
import type { Command } from "commander";
import type { Env } from "../store/index.ts";
import type { ModelRequest } from "../types.ts";
import type { Summary } from "../download/index.ts";
import { projectDirs, type PluginDirs } from "../select/index.ts";
import { LockfileError, lockPathFor, putEntry, readLock, writeLock, type Lock, type LockEntry } from "../lockfile/index.ts";
import { formatFrozenProblems, frozenProblems, modelRef } from "../lockfile/index.ts";
import type { Output } from "./reporter.ts";

// How the commands find, check and write models.lock.json; the lock logic itself is in src/lockfile/.

export interface LockfileOptions extends PluginDirs {
  lockfile?: string;
}

/** `--lockfile FILE`, the same on every command that reads the lock. */
export function lockfileOption(command: Command): Command {
  return command.option("--lockfile <file>", "the lockfile (default: models.lock.json beside the projects folder)");
}

export interface OpenedLock {
  path: string;
  lock: Lock;
  /** False when the file does not exist yet (the lock is then empty). */
  exists: boolean;
}

export async function openLock(options: LockfileOptions, env: Env): Promise<OpenedLock> {
  const path = lockPathFor(projectDirs(options, env), options.lockfile);
  const exists = await access(path).then(() => true, () => false);
  return { path, lock: await readLock(path), exists };
}

/**
 * The lock a download follows: the file when it exists or is named (`--lockfile`, `--frozen`), else none. With
 * `--frozen` a missing file, or a selection the lock does not pin as declared, is refused here, before any request.
 */
export async function lockForDownload(
  options: LockfileOptions & { frozen?: boolean }, models: readonly ModelRequest[], env: Env,
): Promise<OpenedLock | undefined> {
  const opened = await openLock(options, env);
  if (!opened.exists && options.frozen) {
    throw new LockfileError(`--frozen: ${opened.path} does not exist. Create it with \`download-models lock\` (same selection), review it and commit it.`);
  }
  if (!opened.exists && !options.lockfile) return undefined;
  if (options.frozen) {
    const problems = frozenProblems(models, opened.lock);
    if (problems.length > 0) throw new LockfileError(formatFrozenProblems(problems, opened.path));
  }
  return opened;
}

const shortCommit = (commit: string) => `${commit.slice(0, 12)}…`;

/**
 * Write the entries of models new to the lock back to it, for the models that completed (a failed download pins
 * nothing); one line per entry says so. The lock pins what projects declare: ids given on the command line alone are
 * added only when `--lockfile` names the lock (else a one-off download would be kept by every later prune).
 */
export async function recordAdded(opened: OpenedLock, summary: Summary, named: boolean): Promise<string[]> {
  const done = new Set(summary.models.filter((m) => m.status !== "failed").map((m) => modelRef(m)));
  const entries = summary.lockAdded.filter((e) => done.has(modelRef(e)) && (named || e.projects.length > 0));
  if (entries.length === 0) return [];
  let lock = await readLock(opened.path); // another run may have written it meanwhile
  for (const entry of entries) lock = putEntry(lock, entry);
  await writeLock(opened.path, lock);
  opened.lock = lock;
  return entries.map((e) => `added to ${basename(opened.path)}: ${modelRef(e)} (commit ${shortCommit(e.commit)})`);
}

export interface Pin {
  ref: string;
  source: string;
  id: string;
  revision: string;
  commit: string;
  /** What a consumer passes as `revision=`. */
  pin: string;
  note?: string;
}

/**
 * What a consumer pins for a locked model. HuggingFace: the commit (`snapshot_download(repo, revision=<commit>)`
 * loads it offline). ModelScope publishes no commit for a branch: consumers keep the revision; the lock's
 * commit there is the digest of the locked listing.
 */
export function pinOf(entry: LockEntry): Pin {
  const base = { ref: modelRef(entry), source: entry.source, id: entry.id, revision: entry.revision, commit: entry.commit };
  if (entry.source === "huggingface") return { ...base, pin: entry.commit };
  return { ...base, pin: entry.revision, note: `no commit ids on ${entry.source}; listing ${entry.commit.slice(0, 12)} locked` };
}

export function pinLine(p: Pin): string {
  return `# ${p.ref} → pin revision="${p.pin}"${p.note ? ` (${p.note})` : ""}`;
}

/** After a download that followed the lock: the pins of the models of this run. */
export function pinsOfRun(opened: OpenedLock, summary: Summary, io: Output): void {
  const refs = new Set(summary.models.filter((m) => m.status !== "failed").map((m) => modelRef(m)));
  const pins = opened.lock.models.filter((e) => refs.has(modelRef(e))).map(pinOf);
  if (pins.length === 0) return;
  io.out(`Locked commits (${opened.path}); consumers that pin a revision use these:`);
  for (const p of pins) io.out(pinLine(p));
}
