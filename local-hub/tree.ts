import { createHash } from "node:crypto";
import { lfsPointerSize, type HubCommit, type HubFile } from "./repo.ts";

/** Every local commit claims this date; clients only ever display it. */
export const COMMIT_DATE = "2024-06-01T12:00:00.000Z";

interface LastCommit {
  id: string;
  title: string;
  date: string;
}

export interface FileEntry {
  type: "file";
  oid: string;
  size: number;
  path: string;
  lfs?: { oid: string; size: number; pointerSize: number };
  lastCommit?: LastCommit;
}

export interface DirectoryEntry {
  type: "directory";
  oid: string;
  size: 0;
  path: string;
  lastCommit?: LastCommit;
}

export type TreeEntry = FileEntry | DirectoryEntry;

function fileEntry(file: HubFile): FileEntry {
  const entry: FileEntry = { type: "file", oid: file.gitOid, size: file.size, path: file.path };
  if (file.lfs) entry.lfs = { oid: file.sha256, size: file.size, pointerSize: lfsPointerSize(file) };
  return entry;
}

function directoryEntry(commit: HubCommit, path: string): DirectoryEntry {
  const oid = createHash("sha1").update(`tree ${commit.sha} ${path}`).digest("hex");
  return { type: "directory", oid, size: 0, path };
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "" : path.slice(0, slash);
}

/** A listed path: a file (its index in `commit.files`) or a directory (-1). */
export interface ListedPath {
  path: string;
  file: number;
}

const orders = new WeakMap<readonly HubFile[], { paths: string[]; listed: ListedPath[] }>();

/**
 * Every path of a commit in path order (a directory before its content), sorted once per file list and not per
 * request: a listing of 300,000 files is asked for in 300 pages. Tests replace files in place, so each call checks
 * that the files still have the paths it was sorted for (one pass, no sort).
 */
function listedPaths(commit: HubCommit): ListedPath[] {
  const files = commit.files;
  const known = orders.get(files);
  if (known && known.paths.length === files.length && files.every((f, i) => f.path === known.paths[i])) return known.listed;
  const directories = new Set<string>();
  for (const file of files) {
    for (let dir = parentOf(file.path); dir !== "" && !directories.has(dir); dir = parentOf(dir)) {
      directories.add(dir);
    }
  }
  const listed: ListedPath[] = [...[...directories].map((path) => ({ path, file: -1 })), ...files.map((f, file) => ({ path: f.path, file }))];
  listed.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  orders.set(files, { paths: files.map((f) => f.path), listed });
  return listed;
}

/** The tree entry of a listed path, made from the file as it is now. */
export function entryOf(commit: HubCommit, listed: ListedPath): TreeEntry {
  return listed.file < 0 ? directoryEntry(commit, listed.path) : fileEntry(commit.files[listed.file]!);
}

/** All files and directories of a commit, in path order (a directory comes before its content). */
export function allEntries(commit: HubCommit): TreeEntry[] {
  return listedPaths(commit).map((listed) => entryOf(commit, listed));
}

/** The paths of directory `dir` ("" = root), or undefined when it is not a directory of the commit. */
export function listPaths(commit: HubCommit, dir: string, recursive: boolean): ListedPath[] | undefined {
  const listed = listedPaths(commit);
  if (dir !== "" && !listed.some((e) => e.file < 0 && e.path === dir)) return undefined;
  const prefix = dir === "" ? "" : `${dir}/`;
  return listed.filter((e) => e.path.startsWith(prefix) && (recursive || !e.path.slice(prefix.length).includes("/")));
}

/** The content of directory `dir` ("" = root), or undefined when it is not a directory of the commit. */
export function listDirectory(commit: HubCommit, dir: string, recursive: boolean): TreeEntry[] | undefined {
  return listPaths(commit, dir, recursive)?.map((listed) => entryOf(commit, listed));
}

const indexes = new WeakMap<readonly HubFile[], Map<string, number>>();

/** The file at `path`, by an index kept per file list (checked against the file there now, rebuilt when stale). */
export function fileAt(commit: HubCommit, path: string): HubFile | undefined {
  const files = commit.files;
  const known = indexes.get(files)?.get(path);
  if (known !== undefined && files[known]?.path === path) return files[known];
  const index = new Map(files.map((f, i) => [f.path, i]));
  indexes.set(files, index);
  const i = index.get(path);
  return i === undefined ? undefined : files[i];
}

/** The entries for the given paths; unknown paths are left out, as the Hub's paths-info does. */
export function entriesAt(commit: HubCommit, paths: readonly string[]): TreeEntry[] {
  const byPath = new Map(allEntries(commit).map((e) => [e.path, e]));
  return paths.flatMap((path) => byPath.get(path) ?? []);
}

export function withLastCommit(entry: TreeEntry, commit: HubCommit): TreeEntry {
  return { ...entry, lastCommit: { id: commit.sha, title: "Upload model files", date: COMMIT_DATE } };
}
