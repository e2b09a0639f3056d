/** A model as declared in a project plugin or on the command line. */
export interface ModelSpec {
  /** Downloader name (`huggingface`, `hf`, `modelscope`, or a user downloader). */
  source?: string;
  /** Repository id, e.g. `Qwen/Qwen2.5-0.5B`. */
  id: string;
  /** Branch, tag or commit. @default the downloader's default (`main` on HuggingFace) */
  revision?: string;
  /** fnmatch patterns (`*` also matches `/`); only matching files are downloaded. */
  include?: string[];
  /** fnmatch patterns applied after `include`. */
  exclude?: string[];
  /**
   * Put the files in this folder as a plain tree (no cache layout), as `hf download --local-dir` does; still
   * verified, resumable and skipped when complete. Relative to the working directory.
   */
  localDir?: string;
}

/** A model after defaults are applied: what the core works with. */
export interface ModelRequest {
  /** Canonical downloader name (aliases resolved). */
  source: string;
  id: string;
  revision: string;
  include: string[];
  exclude: string[];
  /** Projects that declared it (empty for ids given on the command line). */
  projects: string[];
  /** An absolute folder for the files as a plain tree, instead of the source's cache layout. */
  localDir?: string;
}

/** One file of a resolved snapshot. Paths are POSIX, relative to the repo root. */
export interface ResolvedFile {
  path: string;
  size: number;
  /** Content sha256 (hex), when the hub publishes one (LFS files). */
  sha256?: string;
  /** Git blob sha1 (hex) of the content, for plain git files. */
  gitSha1?: string;
  /** Git blob id as the hub's tree lists it (for LFS files: the pointer's), recorded in HF's `trees/<commit>.json`. */
  gitOid?: string;
  /** Content-addressed name the cache stores the file under (HF: LFS sha256, else git sha1). */
  etag?: string;
  /** The commit that last changed this file (ModelScope's per-file `Revision`, recorded in its `.msc`). */
  fileRevision?: string;
  /** Where the bytes are; the core follows redirects. */
  url: string;
  /** Request headers. `authorization` and `cookie` are dropped when a redirect leaves the URL's origin. */
  headers?: Record<string, string>;
}

/** What a downloader resolves a model to. */
export interface Snapshot {
  /** The revision that was asked for. */
  revision: string;
  /** The immutable commit it resolved to. */
  commit: string;
  files: ResolvedFile[];
  /** When the revision was created, epoch seconds, if the hub says (ModelScope records it in `.mv`). */
  createdAt?: number;
}

/** How the core lays a source's files out on disk. */
export type LayoutName = "huggingface" | "modelscope" | "plain";

/** An HTTP answer the core could not use, handed to the downloader to explain in its hub's terms. */
export interface FailedResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  url: string;
  /** Up to 4 KiB of the body, as text. */
  body: string;
}

/** The environment a run reads (process.env, or one a test or a library user builds). */
export type Env = Readonly<Record<string, string | undefined>>;
