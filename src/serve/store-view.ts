import { createHash } from "node:crypto";
import { realpath, stat } from "node:fs/promises";
import { isAbsolute, relative, sep } from "node:path";
import type { Registry } from "../sources/index.ts";
import { openCache, type ListedFile, type Roots } from "../store/index.ts";
import type { Lock } from "../lockfile/index.ts";

// The one place the server reads the store: everything else sees repos, commits and files with their disk paths.
// Disk paths come from the stores' own path functions applied to manifest entries, never from a URL.

export type HubKind = "huggingface" | "modelscope";

export interface StoredFile {
  path: string;
  size: number;
  /** LFS content sha256. */
  sha256?: string;
  /** Git blob id as a tree lists it (for LFS files: the pointer's). */
  gitOid?: string;
  /** The blob's name in the cache (LFS sha256, else git sha1): the HF ETag. */
  etag?: string;
  /** ModelScope's per-file revision (`.msc`). */
  fileRevision?: string;
  /** Absolute path of the verified bytes, when a complete manifest lists the file and it is on disk. */
  disk?: string;
}

export interface StoredCommit {
  commit: string;
  files: Map<string, StoredFile>;
  /** The listing is the commit's whole listing (the one the layout cached, or an unfiltered manifest). */
  wholeListing: boolean;
  /** When the manifest was completed (for lastModified). */
  completedAt?: string;
}

export interface StoredRepo {
  kind: HubKind;
  /** The id as the store spells it (org/name). */
  id: string;
  /** Revision name → commit (branches and tags the store recorded; with a lock, the locked pairs). */
  refs: Map<string, string>;
  commits: Map<string, StoredCommit>;
  /** ModelScope: the revision's CreatedAt from `.mv` (epoch seconds). */
  createdAt?: number;
}

export interface StoreView {
  repos: Map<string, StoredRepo>;
  warnings: string[];
}

const COMMIT = /^[0-9a-f]{40}$/;

export const repoKey = (kind: HubKind, id: string) => `${kind}:${id}`;

/** sha1 of the git blob holding an LFS pointer: what the hub's tree lists as an LFS file's `oid`. */
export function lfsPointer(sha256: string, size: number): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${size}\n`;
}
const pointerOid = (sha256: string, size: number) => {
  const p = lfsPointer(sha256, size);
  return createHash("sha1").update(`blob ${Buffer.byteLength(p)}\0${p}`).digest("hex");
};

/** A file of the commit's whole listing, as the store cached it, in the server's terms. */
function listedFile(f: ListedFile): StoredFile {
  const etag = f.sha256 ?? f.gitOid;
  return { path: f.path, size: f.size, ...(f.sha256 ? { sha256: f.sha256 } : {}), ...(f.gitOid ? { gitOid: f.gitOid } : {}), ...(etag ? { etag } : {}) };
}

const isWithin = (base: string, path: string) => {
  const rel = relative(base, path);
  return rel === "" || (rel !== ".." && !rel.startsWith(".." + sep) && !isAbsolute(rel));
};

/** The bytes are there with the listed size, reached without leaving the store root. */
async function storedAt(path: string, size: number, realRoot: string): Promise<string | undefined> {
  try {
    const real = await realpath(path);
    if (!isWithin(realRoot, real)) return undefined;
    const st = await stat(real);
    return st.isFile() && st.size === size ? real : undefined;
  } catch {
    return undefined;
  }
}

function repoFor(repos: Map<string, StoredRepo>, kind: HubKind, id: string): StoredRepo {
  let repo = repos.get(repoKey(kind, id));
  if (!repo) repos.set(repoKey(kind, id), (repo = { kind, id, refs: new Map(), commits: new Map() }));
  return repo;
}

/**
 * What the store can serve now: each complete model (by its manifest) as a repo with its commits, listings and the
 * disk paths of its stored files. With a lock, only the (repo, revision → commit) pairs it pins.
 */
export async function readStoreView(registry: Registry, roots: Roots, lock?: Lock): Promise<StoreView> {
  const repos = new Map<string, StoredRepo>();
  const warnings: string[] = [];
  const realRoots = new Map<string, string>();
  const realRootOf = async (root: string) => {
    let r = realRoots.get(root);
    if (r === undefined) realRoots.set(root, (r = await realpath(root).catch(() => root)));
    return r;
  };
  // Complete by its manifest: every listed file at its place with its size, the layout's revision record agreeing.
  for (const complete of await openCache({ registry, roots }).completeModels()) {
    const { layout, manifest, request: model } = complete;
    if (layout !== "huggingface" && layout !== "modelscope") continue;
    const realRoot = await realRootOf(complete.root);
    const repo = repoFor(repos, layout, model.id);
    if (layout === "modelscope") repo.createdAt = complete.createdAt;
    const commit: StoredCommit = repo.commits.get(manifest.commit) ?? { commit: manifest.commit, files: new Map<string, StoredFile>(), wholeListing: false };
    repo.commits.set(manifest.commit, commit);
    commit.completedAt = manifest.completedAt;
    if (!commit.wholeListing) {
      const listing = await complete.store.history?.readListing(manifest.commit);
      if (listing) {
        for (const f of listing) if (!commit.files.has(f.path)) commit.files.set(f.path, listedFile(f));
        commit.wholeListing = true;
      }
    }
    if (manifest.include.length === 0 && manifest.exclude.length === 0) commit.wholeListing = true;
    for (const f of complete.files) {
      const etag = f.etag ?? f.sha256 ?? f.gitSha1;
      const gitOid = f.sha256 ? pointerOid(f.sha256, f.size) : f.gitSha1;
      // The bytes by the layout's own name for them (HF: the blob by its checked content name), never a URL's.
      const disk = f.blob ? await storedAt(f.blob, f.size, realRoot) : undefined;
      const known = commit.files.get(f.path);
      const fileRevision = complete.fileRevisions?.get(f.path);
      commit.files.set(f.path, {
        path: f.path, size: f.size,
        ...(f.sha256 ? { sha256: f.sha256 } : {}),
        ...((known?.gitOid ?? gitOid) ? { gitOid: known?.gitOid ?? gitOid } : {}),
        ...(etag ? { etag } : {}),
        ...(fileRevision ? { fileRevision } : {}),
        ...(disk ? { disk } : {}),
      });
    }
    // The request's revision and every branch or tag the layout records (HF refs/), when they name a commit.
    for (const [name, c] of complete.refs) if (COMMIT.test(c)) repo.refs.set(name, c);
  }
  for (const repo of repos.values()) {
    for (const c of repo.commits.values()) {
      if (!c.wholeListing) warnings.push(`${repo.id}@${c.commit}: only a filtered manifest is stored, so listings show the stored files only`);
    }
    // A ref the store moved to a commit it does not hold is of no use here.
    for (const [name, c] of repo.refs) if (!repo.commits.has(c)) repo.refs.delete(name);
  }
  if (lock) restrictToLock(repos, lock, registry);
  return { repos, warnings };
}

/** Keep exactly what the lock pins: its (repo, revision → commit) pairs, and those commits only. */
function restrictToLock(repos: Map<string, StoredRepo>, lock: Lock, registry: Registry): void {
  const pinned = new Map<string, Map<string, string>>();
  for (const e of lock.models) {
    const layout = registry.names().includes(e.source) ? registry.get(e.source).layout : undefined;
    if (layout !== "huggingface" && layout !== "modelscope") continue;
    const key = repoKey(layout, e.id);
    if (!pinned.has(key)) pinned.set(key, new Map());
    pinned.get(key)!.set(e.revision, e.commit);
  }
  for (const [key, repo] of repos) {
    const pins = pinned.get(key);
    if (!pins) {
      repos.delete(key);
      continue;
    }
    const commits = new Set(pins.values());
    for (const c of repo.commits.keys()) if (!commits.has(c)) repo.commits.delete(c);
    repo.refs = new Map([...pins].filter(([name, c]) => repo.commits.has(c) && name !== c));
    if (repo.commits.size === 0) repos.delete(key);
  }
}
