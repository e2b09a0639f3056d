import { createHash } from "node:crypto";
import { Readable, Transform, pipeline } from "node:stream";
import { deterministicChunks, deterministicStream } from "./content.ts";

export interface HubFile {
  /** Repo-relative path with `/` separators, e.g. `"dir/sub/file.bin"`. */
  path: string;
  size: number;
  /** LFS files are listed with an `lfs` block and resolve to a 302 towards the CDN. */
  lfs: boolean;
  /** sha256 of the content (hex). */
  sha256: string;
  /** Git blob sha1 of the content, or for LFS files of the pointer text. */
  gitOid: string;
  /** The bytes served for `[start, endExclusive)`. */
  read(start: number, endExclusive: number): Readable;
}

export interface HubCommit {
  sha: string;
  files: HubFile[];
}

export type HubSource = "huggingface" | "modelscope";

export interface HubRepo {
  source: HubSource;
  /** `"org/name"`, exactly as requested by clients. */
  id: string;
  /** Branch or tag name -> commit sha; always has the default branch (see `defaultBranch`). */
  refs: Record<string, string>;
  commits: HubCommit[];
  /** @default "public" */
  access?: "public" | "private" | "gated";
  /** Which of `refs` are tags; the others are branches. @default [] */
  tags?: string[];
  /** Branch or tag name -> creation time in epoch seconds (ModelScope's revisions listing). @default REF_BASE_TIME */
  createdAt?: Record<string, number>;
}

/** Creation time of the default branch; every further ref is one hour younger than the previous one. */
export const REF_BASE_TIME = Date.parse("2024-06-01T12:00:00.000Z") / 1000;

/** `main` on the HuggingFace Hub, `master` on ModelScope. */
export function defaultBranch(source: HubSource): string {
  return source === "modelscope" ? "master" : "main";
}

export interface FileSpec {
  path: string;
  /** Number of deterministic bytes; ignored when `text` is given. */
  size?: number;
  /** UTF-8 content of the file. */
  text?: string;
  /** @default true for files of 1 MiB or more and for weight extensions (.safetensors, .bin, .pt, ...) */
  lfs?: boolean;
  /**
   * Names the deterministic content; files with the same seed share their bytes.
   * @default `${repoId}/${path}`
   */
  seed?: string;
}

const LFS_EXTENSIONS = [".safetensors", ".bin", ".pt", ".pth", ".onnx", ".th", ".ckpt"];
const MiB = 1024 * 1024;

interface Content {
  size: number;
  /** Identifies deterministic content for the digest cache; absent for literal text. */
  cacheKey?: string;
  chunks(): Iterable<Buffer>;
  read: HubFile["read"];
}

interface Digests {
  sha256: string;
  /** Only computed for non-LFS files, where it is the git oid. */
  blobSha1?: string;
}

// Hashing GB-sized content takes seconds; tests and benchmarks rebuild the same repos many times.
const digestCache = new Map<string, Digests>();

function sha1Hex(text: string): string {
  return createHash("sha1").update(text).digest("hex");
}

function contentOf(repoSeed: string, spec: FileSpec): Content {
  if (spec.text !== undefined) {
    const bytes = Buffer.from(spec.text, "utf8");
    return {
      size: bytes.length,
      chunks: () => [bytes],
      read: (start, end) => Readable.from([bytes.subarray(start, end)]),
    };
  }
  const size = spec.size ?? 0;
  const seed = spec.seed ?? `${repoSeed}/${spec.path}`;
  return {
    size,
    cacheKey: `${seed}\0${size}`,
    chunks: () => deterministicChunks(seed, 0, size),
    read: (start, end) => deterministicStream(seed, start, end),
  };
}

function digestsOf(content: Content, withBlobSha1: boolean): Digests {
  const cacheKey = content.cacheKey === undefined ? undefined : `${content.cacheKey}\0${withBlobSha1}`;
  const cached = cacheKey === undefined ? undefined : digestCache.get(cacheKey);
  if (cached) return cached;
  const sha256 = createHash("sha256");
  const blob = withBlobSha1 ? createHash("sha1").update(`blob ${content.size}\0`) : undefined;
  for (const chunk of content.chunks()) {
    sha256.update(chunk);
    blob?.update(chunk);
  }
  const digests = { sha256: sha256.digest("hex"), blobSha1: blob?.digest("hex") };
  if (cacheKey !== undefined) digestCache.set(cacheKey, digests);
  return digests;
}

function lfsPointer(sha256: string, size: number): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${size}\n`;
}

/** The size of the LFS pointer text that stands in git for an LFS file. */
export function lfsPointerSize(file: HubFile): number {
  return lfsPointer(file.sha256, file.size).length;
}

function isLfsByDefault(path: string, size: number): boolean {
  return size >= MiB || LFS_EXTENSIONS.some((ext) => path.endsWith(ext));
}

export function makeFile(repoSeed: string, spec: FileSpec): HubFile {
  const content = contentOf(repoSeed, spec);
  const lfs = spec.lfs ?? isLfsByDefault(spec.path, content.size);
  const { sha256, blobSha1 } = digestsOf(content, !lfs);
  const pointer = lfsPointer(sha256, content.size);
  const gitOid = blobSha1 ?? sha1Hex(`blob ${pointer.length}\0${pointer}`);
  return { path: spec.path, size: content.size, lfs, sha256, gitOid, read: content.read };
}

function commitSha(repoId: string, branch: string, files: HubFile[]): string {
  const listing = files.map((f) => `${f.path} ${f.gitOid} ${f.sha256}`).sort();
  return sha1Hex([repoId, branch, ...listing].join("\n"));
}

export function makeCommit(repoId: string, branch: string, specs: FileSpec[]): HubCommit {
  const files = specs.map((spec) => makeFile(repoId, spec));
  const paths = new Set<string>();
  for (const file of files) {
    if (paths.has(file.path)) throw new Error(`Duplicate file ${file.path} in ${repoId}@${branch}`);
    paths.add(file.path);
  }
  return { sha: commitSha(repoId, branch, files), files };
}

export function makeRepo(opts: {
  id: string;
  files: FileSpec[];
  /** @default "huggingface" */
  source?: HubSource;
  /** ModelScope has no gated models: there `gated` behaves as `private`. */
  access?: HubRepo["access"];
  /** Tags pointing at the default branch's commit, oldest first (ModelScope lists them newest first). */
  tags?: string[];
  /** Branch name -> its files; each branch gets its own commit. */
  extraBranches?: Record<string, FileSpec[]>;
}): HubRepo {
  if (!/^[^/]+\/[^/]+$/.test(opts.id)) throw new Error(`Repo id must be "org/name", got "${opts.id}"`);
  const source = opts.source ?? "huggingface";
  const branch = defaultBranch(source);
  const head = makeCommit(opts.id, branch, opts.files);
  const refs: Record<string, string> = { [branch]: head.sha };
  const commits = [head];
  for (const tag of opts.tags ?? []) refs[tag] = head.sha;
  for (const [name, specs] of Object.entries(opts.extraBranches ?? {})) {
    const commit = makeCommit(opts.id, name, specs);
    refs[name] = commit.sha;
    commits.push(commit);
  }
  const createdAt = Object.fromEntries(Object.keys(refs).map((ref, index) => [ref, REF_BASE_TIME + index * 3600]));
  const tags = [...(opts.tags ?? [])];
  return { source, id: opts.id, refs, commits, access: opts.access ?? "public", tags, createdAt };
}

/** A pass-through that inverts the byte at `offset` of the stream (counted from its first byte). */
export function flipByteAt(offset: number): Transform {
  let pos = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const index = offset - pos;
      pos += chunk.length;
      if (index < 0 || index >= chunk.length) return callback(null, chunk);
      // Copy: the source may hand out views of shared content.
      const copy = Buffer.from(chunk);
      copy[index] = (copy[index] ?? 0) ^ 0xff;
      callback(null, copy);
    },
  });
}

/** Same metadata (size, hashes) as `file`, but the byte at `atOffset` is served flipped. */
export function corruptFile(file: HubFile, atOffset: number = Math.floor(file.size / 2)): HubFile {
  if (!Number.isSafeInteger(atOffset) || atOffset < 0 || atOffset >= file.size) {
    throw new RangeError(`Cannot corrupt ${file.path} (${file.size} bytes) at offset ${atOffset}`);
  }
  // pipeline (not pipe) so that destroying the result also destroys the source.
  const read = (start: number, end: number): Readable => pipeline(file.read(start, end), flipByteAt(atOffset - start), () => {});
  return { ...file, read };
}
