import { createHash } from "node:crypto";
import type { HubCommit, HubFile, HubRepo } from "../repo.ts";
import { COMMIT_DATE, listDirectory } from "../tree.ts";

const COMMITTED_DATE = Date.parse(COMMIT_DATE) / 1000;

/** One entry of `Data.Files` from `/repo/files`. */
export interface MsFileEntry {
  CommitMessage: string;
  CommittedDate: number;
  CommitterName: string;
  InCheck: false;
  IsLFS: boolean;
  /** `"33188"` (0100644) for blobs, `"16384"` (040000) for trees. */
  Mode: string;
  Name: string;
  Path: string;
  Revision: string;
  Sha256: string | null;
  Size: number;
  Type: "blob" | "tree";
}

function sha1Hex(text: string): string {
  return createHash("sha1").update(text).digest("hex");
}

/**
 * The per-file `Revision` ("last commit touching the file"). It depends only on the repo, the path and the
 * content, so a file that is identical on two branches or tags has the same Revision there, which is what
 * ModelScope's `.msc` cache relies on.
 */
export function msFileRevision(repoId: string, file: Pick<HubFile, "path" | "sha256">): string {
  return sha1Hex(`${repoId}\0${file.path}\0${file.sha256}`);
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

const COMMIT_FIELDS = {
  CommitMessage: "Upload model files",
  CommittedDate: COMMITTED_DATE,
  CommitterName: "local-hub",
  InCheck: false,
} as const;

function blobEntry(repo: HubRepo, file: HubFile): MsFileEntry {
  return {
    ...COMMIT_FIELDS,
    IsLFS: file.lfs,
    Mode: "33188",
    Name: baseName(file.path),
    Path: file.path,
    Revision: msFileRevision(repo.id, file),
    Sha256: file.sha256,
    Size: file.size,
    Type: "blob",
  };
}

// Like a blob's, a directory's Revision follows its content: the same content gives the same Revision.
function treeEntry(repo: HubRepo, commit: HubCommit, path: string): MsFileEntry {
  const content = commit.files
    .filter((f) => f.path.startsWith(`${path}/`))
    .map((f) => `${f.path} ${f.sha256}`)
    .sort();
  return {
    ...COMMIT_FIELDS,
    IsLFS: false,
    Mode: "16384",
    Name: baseName(path),
    Path: path,
    Revision: sha1Hex([`tree ${repo.id}\0${path}`, ...content].join("\n")),
    Sha256: null,
    Size: 0,
    Type: "tree",
  };
}

/**
 * `Data.Files` for `root` ("" = the whole repo): every file and directory below it, or only its direct
 * children when not recursive. A root that is not a directory of the commit lists nothing.
 */
export function msListing(repo: HubRepo, commit: HubCommit, root: string, recursive: boolean): MsFileEntry[] {
  const byPath = new Map(commit.files.map((f) => [f.path, f]));
  return (listDirectory(commit, root, recursive) ?? []).map((entry) => {
    const file = byPath.get(entry.path);
    return entry.type === "file" && file ? blobEntry(repo, file) : treeEntry(repo, commit, entry.path);
  });
}
