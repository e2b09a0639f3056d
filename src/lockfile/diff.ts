import type { ModelRequest, ResolvedFile, Snapshot } from "../types.ts";
import { DownloadModelsError } from "../errors.ts";
import { formatBytes } from "../util/index.ts";
import { matchesFilters } from "../util/index.ts";
import { findEntry, type Lock, type LockEntry, type LockFile } from "./lockfile.ts";

/** How `download-models` names a model on its command line: `hf:org/name`, `ms:owner/name`, `<source>:id`. */
export function modelRef(model: Pick<ModelRequest, "source" | "id"> & { revision?: string }, withRevision = true): string {
  const prefix = model.source === "huggingface" ? "hf" : model.source === "modelscope" ? "ms" : model.source;
  return `${prefix}:${model.id}${withRevision && model.revision ? `@${model.revision}` : ""}`;
}

export interface ChangedFile {
  path: string;
  before: LockFile;
  after: LockFile;
}

export interface EntryDiff {
  ref: string;
  oldCommit: string;
  newCommit: string;
  added: LockFile[];
  removed: LockFile[];
  changed: ChangedFile[];
  oldBytes: number;
  newBytes: number;
}

/** Same bytes: same size, and no published hash that disagrees. */
function sameContent(a: LockFile, b: LockFile): boolean {
  if (a.size !== b.size) return false;
  if (a.sha256 && b.sha256) return a.sha256 === b.sha256;
  if (a.gitSha1 && b.gitSha1) return a.gitSha1 === b.gitSha1;
  if (a.revision && b.revision) return a.revision === b.revision;
  return !a.sha256 && !b.sha256 && !a.gitSha1 && !b.gitSha1;
}

function diffFiles(before: readonly LockFile[], after: readonly LockFile[]): Pick<EntryDiff, "added" | "removed" | "changed"> {
  const old = new Map(before.map((f) => [f.path, f]));
  const now = new Map(after.map((f) => [f.path, f]));
  return {
    added: after.filter((f) => !old.has(f.path)),
    removed: before.filter((f) => !now.has(f.path)),
    changed: after.flatMap((f) => {
      const was = old.get(f.path);
      return was && !sameContent(was, f) ? [{ path: f.path, before: was, after: f }] : [];
    }),
  };
}

const total = (files: readonly LockFile[]) => files.reduce((n, f) => n + f.size, 0);

/** What moving one model from `before` to `after` changes (for `lock --update`). */
export function diffEntries(before: LockEntry, after: LockEntry): EntryDiff {
  return {
    ref: modelRef(after), oldCommit: before.commit, newCommit: after.commit,
    ...diffFiles(before.files, after.files), oldBytes: total(before.files), newBytes: total(after.files),
  };
}

export function isUnchanged(diff: EntryDiff): boolean {
  return diff.oldCommit === diff.newCommit && diff.added.length + diff.removed.length + diff.changed.length === 0;
}

const short = (commit: string) => commit.slice(0, 12);

function signedBytes(n: number): string {
  return `${n < 0 ? "-" : "+"}${formatBytes(Math.abs(n))}`;
}

/** Human lines: the commit move, then one line per file (+ added, - removed, ~ changed), then the size change. */
export function formatDiff(diff: EntryDiff): string[] {
  if (isUnchanged(diff)) return [`${diff.ref}: unchanged (${short(diff.newCommit)})`];
  const lines = [`${diff.ref}: ${short(diff.oldCommit)} → ${short(diff.newCommit)}`];
  for (const f of diff.added) lines.push(`  + ${f.path} (${formatBytes(f.size)})`);
  for (const f of diff.removed) lines.push(`  - ${f.path} (${formatBytes(f.size)})`);
  for (const c of diff.changed) lines.push(`  ~ ${c.path} (${formatBytes(c.before.size)} → ${formatBytes(c.after.size)})`);
  const counts = `${diff.added.length} added, ${diff.removed.length} removed, ${diff.changed.length} changed`;
  lines.push(`  ${counts}; size ${signedBytes(diff.newBytes - diff.oldBytes)} (${formatBytes(diff.oldBytes)} → ${formatBytes(diff.newBytes)})`);
  return lines;
}

export interface FrozenProblem {
  ref: string;
  kind: "missing" | "declared-differently";
  /** For `declared-differently`: what the lock says against what the projects say, per field. */
  differences: string[];
  /** The command that brings the lock in line. */
  fix: string;
}

const patterns = (p: readonly string[]) => `[${[...p].sort().join(", ")}]`;

function differencesOf(model: ModelRequest, entry: LockEntry): string[] {
  const out: string[] = [];
  if (entry.source !== model.source) out.push(`source: locked ${entry.source}, declared ${model.source}`);
  if (entry.revision !== model.revision) out.push(`revision: locked ${entry.revision}, declared ${model.revision}`);
  if (patterns(entry.include) !== patterns(model.include)) out.push(`include: locked ${patterns(entry.include)}, declared ${patterns(model.include)}`);
  if (patterns(entry.exclude) !== patterns(model.exclude)) out.push(`exclude: locked ${patterns(entry.exclude)}, declared ${patterns(model.exclude)}`);
  return out;
}

/**
 * Why `--frozen` must refuse this selection, before any request: every selected model needs an entry with the same
 * source, id, revision and filters. An entry for the same id that differs names the fields that differ.
 */
export function frozenProblems(selection: readonly ModelRequest[], lock: Lock): FrozenProblem[] {
  const problems: FrozenProblem[] = [];
  for (const model of selection) {
    if (findEntry(lock, model)) continue;
    const sameId = lock.models.filter((e) => e.id === model.id);
    const closest = sameId.find((e) => e.source === model.source) ?? sameId[0];
    const ref = modelRef(model);
    if (!closest) {
      // A project's model is locked with its project, filters included; `lock` then resolves only what is missing.
      const fix = model.projects.length ? `download-models lock --project ${model.projects.join(",")}` : `download-models lock ${ref}`;
      problems.push({ ref, kind: "missing", differences: [], fix });
    } else {
      problems.push({ ref, kind: "declared-differently", differences: differencesOf(model, closest), fix: `download-models lock --update ${ref}` });
    }
  }
  return problems;
}

/** The refusal `--frozen` prints: the list of differences, then the commands that fix them. */
export function formatFrozenProblems(problems: readonly FrozenProblem[], lockPath: string): string {
  const lines = [`--frozen: the selection does not match ${lockPath} (${problems.length} model${problems.length === 1 ? "" : "s"}):`];
  for (const p of problems) {
    lines.push(p.kind === "missing" ? `  - ${p.ref}: not in the lock` : `  - ${p.ref}: declared differently than locked`);
    for (const d of p.differences) lines.push(`      ${d}`);
  }
  lines.push("Nothing was downloaded. Update the lock, review the change and commit it:");
  for (const fix of [...new Set(problems.map((p) => p.fix))]) lines.push(`  ${fix}`);
  return lines.join("\n");
}

/** Where a locked file's bytes are: the pipeline builds the URL and headers from the downloader (HF: by commit). */
export type Locate = (file: LockFile, entry: LockEntry) => { url: string; headers?: Record<string, string> };

/**
 * What to download for a locked model, with no revision request: the locked commit and exactly the locked files,
 * each carrying the lock's size and hashes, which the transfer checks the bytes against (other bytes fail the file).
 */
export function lockedSnapshot(entry: LockEntry, locate: Locate): Snapshot {
  // The whole commit (the filters then select the locked files again), so the layout can record the full listing.
  const files: ResolvedFile[] = [...entry.files, ...(entry.unselected ?? [])].map((f) => {
    const where = locate(f, entry);
    const etag = f.sha256 ?? f.gitSha1;
    return {
      path: f.path, size: f.size,
      ...(f.sha256 ? { sha256: f.sha256 } : {}), ...(f.gitSha1 ? { gitSha1: f.gitSha1 } : {}),
      ...(etag ? { etag } : {}), ...(f.gitOid ? { gitOid: f.gitOid } : {}), ...(f.revision ? { fileRevision: f.revision } : {}),
      url: where.url, ...(where.headers ? { headers: where.headers } : {}),
    };
  });
  return { revision: entry.revision, commit: entry.commit, files };
}

/** HuggingFace serves any file of any commit by URL: the locked commit's URL for a locked file. */
export function huggingfaceLocate(endpoint: string, headers?: Record<string, string>): Locate {
  const encode = (p: string) => p.split("/").map(encodeURIComponent).join("/");
  return (file, entry) => ({ url: `${endpoint}/${entry.id}/resolve/${entry.commit}/${encode(file.path)}`, ...(headers ? { headers } : {}) });
}

/**
 * ModelScope serves files by branch only: a locked model may be downloaded when the branch's listing, through the
 * lock's filters, still has the locked files with the same per-file revision and sha256. Returns how many differ.
 */
export function listingMatches(entry: LockEntry, current: Snapshot): number {
  const identity = (size: number, sha256?: string, revision?: string) => `${size} ${sha256 ?? ""} ${revision ?? ""}`;
  const now = new Map(
    current.files.filter((f) => matchesFilters(f.path, entry.include, entry.exclude)).map((f) => [f.path, identity(f.size, f.sha256, f.fileRevision)]),
  );
  let changed = 0;
  for (const f of entry.files) {
    if (now.get(f.path) !== identity(f.size, f.sha256, f.revision)) changed++;
    now.delete(f.path);
  }
  return changed + now.size;
}

/** The failure of a locked ModelScope model whose branch moved since it was locked. */
export function movedError(entry: LockEntry, changedFiles: number): DownloadModelsError {
  const ref = modelRef(entry, false);
  return new DownloadModelsError(
    `${ref}: the hub's ${entry.revision} moved since the lock (${changedFiles} file${changedFiles === 1 ? "" : "s"} changed): ` +
      `run \`download-models lock --update ${ref}\` (ModelScope serves files by branch or tag only, so the locked files cannot be fetched)`,
  );
}

