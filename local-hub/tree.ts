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

/** All files and directories of a commit, in path order (a directory comes before its content). */
export function allEntries(commit: HubCommit): TreeEntry[] {
  const directories = new Set<string>();
  for (const file of commit.files) {
    for (let dir = parentOf(file.path); dir !== "" && !directories.has(dir); dir = parentOf(dir)) {
      directories.add(dir);
    }
  }
  const entries: TreeEntry[] = [
    ...[...directories].map((dir) => directoryEntry(commit, dir)),
    ...commit.files.map(fileEntry),
  ];
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The content of directory `dir` ("" = root), or undefined when it is not a directory of the commit. */
export function listDirectory(commit: HubCommit, dir: string, recursive: boolean): TreeEntry[] | undefined {
  const entries = allEntries(commit);
  if (dir !== "" && !entries.some((e) => e.type === "directory" && e.path === dir)) return undefined;
  const prefix = dir === "" ? "" : `${dir}/`;
  return entries.filter(
    (e) => e.path.startsWith(prefix) && (recursive || !e.path.slice(prefix.length).includes("/")),
  );
}

/** The entries for the given paths; unknown paths are left out, as the Hub's paths-info does. */
export function entriesAt(commit: HubCommit, paths: readonly string[]): TreeEntry[] {
  const byPath = new Map(allEntries(commit).map((e) => [e.path, e]));
  return paths.flatMap((path) => byPath.get(path) ?? []);
}

export function withLastCommit(entry: TreeEntry, commit: HubCommit): TreeEntry {
  return { ...entry, lastCommit: { id: commit.sha, title: "Upload model files", date: COMMIT_DATE } };
}
