import { access } from "node:fs/promises";
import { basename } from "node:path";
import type { Env } from "../store/index.ts";
import type { ModelRequest } from "../types.ts";
import type { Summary } from "../download/index.ts";
import { loadSelection, projectDirs, projectModels, type PluginDirs, type Project, type Selection } from "../select/index.ts";
import type { Registry } from "../sources/index.ts";
import { selectionKey } from "../util/index.ts";
import { LockfileError, lockPathFor, putEntry, readLock, withLockfileLease, writeLock, type Lock, type LockEntry } from "../lockfile/index.ts";
import { formatFrozenProblems, frozenProblems, modelRef, undeclaredProblems, type FrozenProblem } from "../lockfile/index.ts";
import type { Output } from "./reporter.ts";

// How the commands find, check and write models.lock.json; the lock logic itself is in src/lockfile/.

export interface LockfileOptions extends PluginDirs {
  lockfile?: string;
}

/** A word as the shell reads it back: quoted only when it needs to be. */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The `--projects-dir`, `--downloaders-dir` and `--lockfile` the user gave, for the `lock` commands we print: without
 * them a printed fix reads the default projects and fails ("Unknown project: app").
 */
export function lockFlags(options: LockfileOptions): string {
  const flags = [
    ...(options.projectsDir ?? []).flatMap((d) => ["--projects-dir", d]),
    ...(options.downloadersDir ?? []).flatMap((d) => ["--downloaders-dir", d]),
    ...(options.lockfile ? ["--lockfile", options.lockfile] : []),
  ];
  return flags.map((f) => ` ${shellWord(f)}`).join("");
}

/** The download command again, as the user gave it (selection, `--root`, plugin folders, lockfile), with `--frozen`. */
function frozenRerun(options: LockfileOptions & Partial<Selection> & { root?: string }): string {
  const words = [
    ...(options.ids ?? []),
    ...(options.all ? ["--all"] : []),
    ...(options.project?.length ? ["--project", options.project.join(",")] : []),
    "--frozen",
    ...(options.root ? ["--root", options.root] : []),
  ];
  return `download-models ${words.map(shellWord).join(" ")}${lockFlags(options)}`;
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
 * Entries that came from projects (they list some) and that no project declares any more with that revision and
 * those filters: the project dropped the model or changed its declaration. Entries pinned by id alone (no project)
 * are the user's own and stay until `lock --drop` names them.
 */
export function undeclaredEntries(lock: Lock, declared: readonly ModelRequest[]): LockEntry[] {
  const keys = new Set(declared.map(selectionKey));
  return lock.models.filter((e) => e.projects.length > 0 && !keys.has(selectionKey(e)));
}

/** The projects a command loaded (all of them, when its selection used projects), so that they are not loaded twice. */
export interface LoadedProjects {
  registry: Registry;
  projects: Project[] | undefined;
}

/** Undeclared entries of the lock, judged against every project; the projects are loaded only if some entry may be one. */
async function undeclaredIn(lock: Lock, selected: readonly ModelRequest[], options: LockfileOptions, env: Env, loaded?: LoadedProjects): Promise<LockEntry[]> {
  if (undeclaredEntries(lock, selected).length === 0) return [];
  const { registry, projects } = loaded?.projects
    ? loaded
    : await loadSelection({ ids: [], ...(options.projectsDir ? { projectsDir: options.projectsDir } : {}), ...(options.downloadersDir ? { downloadersDir: options.downloadersDir } : {}), env, loadAllProjects: true });
  return undeclaredEntries(lock, [...projectModels(projects ?? [], registry), ...selected]);
}

/**
 * What `--frozen` and `lock --check` refuse: selected models the lock does not pin as declared, and entries no
 * project declares. An old entry of a model now declared differently is named once, by the `lock --update` that
 * replaces it.
 */
export function lockProblems(models: readonly ModelRequest[], lock: Lock, undeclared: readonly LockEntry[], flags: string): FrozenProblem[] {
  const problems = frozenProblems(models, lock, flags);
  const redeclared = new Set(models.filter((m) => problems.some((p) => p.kind === "declared-differently" && p.ref === modelRef(m))).map((m) => `${m.source}\0${m.id}`));
  return [...problems, ...undeclaredProblems(undeclared.filter((e) => !redeclared.has(`${e.source}\0${e.id}`)), flags)];
}

/**
 * The lock a download follows: the file when it exists or is named (`--lockfile`, `--frozen`), else none. With
 * `--frozen`, as `npm ci` with a lock out of sync with package.json, it is refused here, before any request: a
 * missing file, a selection the lock does not pin as declared, and entries no project declares any more (the
 * printed fix, `download-models lock`, drops them, as `lock --check` asks too).
 */
export async function lockForDownload(
  options: LockfileOptions & Partial<Selection> & { frozen?: boolean; root?: string }, models: readonly ModelRequest[], env: Env, loaded?: LoadedProjects,
): Promise<OpenedLock | undefined> {
  const opened = await openLock(options, env);
  if (!opened.exists && options.frozen) {
    throw new LockfileError(`--frozen: ${opened.path} does not exist. Create it with \`download-models lock\` (same selection), review it and commit it.`);
  }
  if (!opened.exists && !options.lockfile) return undefined;
  if (options.frozen) {
    const flags = lockFlags(options);
    const problems = lockProblems(models, opened.lock, await undeclaredIn(opened.lock, models, options, env, loaded), flags);
    if (problems.length > 0) throw new LockfileError(formatFrozenProblems(problems, opened.path, { rerun: frozenRerun(options) }));
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
  opened.lock = await withLockfileLease(opened.path, async () => {
    let lock = await readLock(opened.path); // another run may have written it meanwhile
    for (const entry of entries) lock = putEntry(lock, entry);
    await writeLock(opened.path, lock);
    return lock;
  });
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
