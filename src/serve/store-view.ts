import { createHash } from "node:crypto";
import { readdir, readFile, realpath, stat } from "node:fs/promises";
import { join } from "node:path";
import { isAbsolute, relative, sep } from "node:path";
import { unpickle, type Registry } from "../sources/index.ts";
import { openCache, type ModelStore, type Roots } from "../store/index.ts";
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
  /** The listing is the commit's whole listing (trees/<commit>.json or an unfiltered manifest). */
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
const HEX = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

export const repoKey = (kind: HubKind, id: string) => `${kind}:${id}`;

/** sha1 of the git blob holding an LFS pointer: what the hub's tree lists as an LFS file's `oid`. */
export function lfsPointer(sha256: string, size: number): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${size}\n`;
}
const pointerOid = (sha256: string, size: number) => {
  const p = lfsPointer(sha256, size);
  return createHash("sha1").update(`blob ${Buffer.byteLength(p)}\0${p}`).digest("hex");
};

interface TreeCacheFile {
  size?: number;
  blob_id?: string;
  lfs_sha256?: string;
}

async function readTreeCache(path: string): Promise<Map<string, StoredFile> | undefined> {
  try {
    const data = JSON.parse(await readFile(path, "utf8")) as { format_version?: number; files?: Record<string, TreeCacheFile> };
    if (data.format_version !== 1 || !data.files) return undefined;
    const files = new Map<string, StoredFile>();
    for (const [path, f] of Object.entries(data.files)) {
      if (typeof f.size !== "number") continue;
      const sha256 = typeof f.lfs_sha256 === "string" ? f.lfs_sha256 : undefined;
      const gitOid = typeof f.blob_id === "string" ? f.blob_id : undefined;
      files.set(path, { path, size: f.size, ...(sha256 ? { sha256 } : {}), ...(gitOid ? { gitOid } : {}), ...((sha256 ?? gitOid) ? { etag: sha256 ?? gitOid } : {}) });
    }
    return files;
  } catch {
    return undefined;
  }
}

/** Every `refs/<name>` file (nested: `refs/pr/1`), content stripped of whitespace (other writers add a newline). */
async function readRefs(dir: string, prefix = ""): Promise<Map<string, string>> {
  const refs = new Map<string, string>();
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const name = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) for (const [k, v] of await readRefs(join(dir, e.name), name)) refs.set(k, v);
    else if (e.isFile()) {
      const commit = (await readFile(join(dir, e.name), "utf8").catch(() => "")).trim();
      if (COMMIT.test(commit)) refs.set(name, commit);
    }
  }
  return refs;
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

async function mscRevisions(modelDir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  try {
    const list = unpickle(await readFile(join(modelDir, ".msc")));
    if (Array.isArray(list)) for (const e of list) if (typeof e?.Path === "string" && typeof e?.Revision === "string") out.set(e.Path, e.Revision);
  } catch {
    // no or unreadable .msc: per-file revisions fall back to the model's
  }
  return out;
}

async function mvCreatedAt(modelDir: string): Promise<number | undefined> {
  const mv = await readFile(join(modelDir, ".mv"), "utf8").catch(() => "");
  const m = /CreatedAt:(\d+)/.exec(mv);
  return m ? Number(m[1]) : undefined;
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
  const realRootOf = async (store: ModelStore) => {
    let r = realRoots.get(store.root);
    if (r === undefined) realRoots.set(store.root, (r = await realpath(store.root).catch(() => store.root)));
    return r;
  };
  const cache = openCache({ registry, roots });
  for (const model of await cache.requests()) {
    const layout = registry.get(model.source).layout;
    if (layout !== "huggingface" && layout !== "modelscope") continue;
    const store = cache.store(model);
    // Complete by its manifest: every listed file at its place with its size, the layout's revision record agreeing.
    const manifest = await cache.complete(model);
    if (!manifest) continue;
    const realRoot = await realRootOf(store);
    const repo = repoFor(repos, layout, model.id);
    if (layout === "modelscope") repo.createdAt = await mvCreatedAt(store.modelDir);
    const commit: StoredCommit = repo.commits.get(manifest.commit) ?? { commit: manifest.commit, files: new Map<string, StoredFile>(), wholeListing: false };
    repo.commits.set(manifest.commit, commit);
    commit.completedAt = manifest.completedAt;
    if (layout === "huggingface" && !commit.wholeListing) {
      const tree = await readTreeCache(join(store.modelDir, "trees", `${manifest.commit}.json`));
      if (tree) {
        for (const [p, f] of tree) if (!commit.files.has(p)) commit.files.set(p, f);
        commit.wholeListing = true;
      }
    }
    if (manifest.include.length === 0 && manifest.exclude.length === 0) commit.wholeListing = true;
    const revisions = layout === "modelscope" ? await mscRevisions(store.modelDir) : new Map<string, string>();
    for (const f of manifest.files) {
      const etag = f.etag ?? f.sha256 ?? f.gitSha1;
      const gitOid = f.sha256 ? pointerOid(f.sha256, f.size) : f.gitSha1;
      let disk: string | undefined;
      if (layout === "huggingface") {
        // The blob by its content name (hex checked), not the snapshot path: a URL never picks the folder.
        if (etag && HEX.test(etag)) disk = await storedAt(store.blobPath({ ...f, url: "" }), f.size, realRoot);
      } else {
        disk = await storedAt(store.blobPath({ ...f, url: "" }), f.size, realRoot);
      }
      const known = commit.files.get(f.path);
      commit.files.set(f.path, {
        path: f.path, size: f.size,
        ...(f.sha256 ? { sha256: f.sha256 } : {}),
        ...((known?.gitOid ?? gitOid) ? { gitOid: known?.gitOid ?? gitOid } : {}),
        ...(etag ? { etag } : {}),
        ...(revisions.get(f.path) ? { fileRevision: revisions.get(f.path) } : {}),
        ...(disk ? { disk } : {}),
      });
    }
    if (!COMMIT.test(model.revision) || model.revision !== manifest.commit) repo.refs.set(model.revision, manifest.commit);
    if (layout === "huggingface") {
      for (const [name, c] of await readRefs(join(store.modelDir, "refs"))) repo.refs.set(name, c);
    }
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
