import type { LayoutName, ModelRequest, ResolvedFile, Snapshot } from "../../types.ts";

/** What a file beside a model's data is to readers: the order a copy must follow (data, listing, marker, record). */
export type FileRole = "listing" | "marker" | "record";

/** A revision record of the layout (HF `refs/<name>`): which commit a branch or tag name stands for. */
export interface RefOnDisk {
  name: string;
  commit: string;
  path: string;
}

/** A content-addressed file of the layout (HF `blobs/<etag>`), partial files excluded. */
export interface BlobOnDisk {
  name: string;
  path: string;
  /** Bytes actually allocated (a sparse file counts what is written). */
  bytes: number;
}

/** A file of a commit's whole listing, as the layout caches it for the hub's readers (HF `trees/<commit>.json`). */
export interface ListedFile {
  path: string;
  size: number;
  /** LFS content sha256. */
  sha256?: string;
  /** The git blob id (for LFS files: the pointer's). */
  gitOid?: string;
}

/**
 * The layout's history of a model, for layouts that keep several commits side by side (HuggingFace): what prune
 * and the mirror read. Layouts that overwrite in place (ModelScope, plain) have none.
 */
export interface CommitHistory {
  /** Commits with a snapshot folder. */
  snapshots(): Promise<string[]>;
  snapshotDir(commit: string): string;
  /** Every revision record, nested names (`pr/1`) included. */
  refs(): Promise<RefOnDisk[]>;
  blobs(): Promise<BlobOnDisk[]>;
  /** Blob names the snapshot of `commit` links to. */
  linkedBlobs(commit: string): Promise<Set<string>>;
  /** Files that describe only `commit` (its tree listing, its cached misses), whether they exist or not. */
  commitFiles(commit: string): string[];
  /** The layout's own folders of the model (refs, snapshots, listings): removed before the model folder. */
  folders(): string[];
  /** The commit's whole listing as the hub readers cache it, when it was written. */
  treeListing(commit: string): string;
  /** That listing read back; undefined when it is missing or in a form the layout does not write. */
  readListing(commit: string): Promise<ListedFile[] | undefined>;
}

/**
 * Where one model's files live on disk, for one layout. The core downloads into `tempPath`, verifies, renames to
 * `blobPath`, then calls `link`; `finish` runs once every file is in place, before the manifest is written.
 */
export interface ModelStore {
  layout: LayoutName;
  /** The cache root this store lives under: nothing may be written outside it. */
  root: string;
  /** The model's own directory (HF: `models--org--name`). */
  modelDir: string;
  /** Directory holding this tool's completion manifests. */
  manifestDir: string;
  /** Where older versions of this tool kept the manifests: still read, and removed once the model is finished again. */
  legacyManifestDirs?: string[];
  /** The folder (with subfolders) holding this model's partial downloads and their records. */
  tempDir: string;
  blobPath(file: ResolvedFile): string;
  tempPath(file: ResolvedFile): string;
  /** The path a consumer opens for `path` at `commit`. */
  consumerPath(commit: string, path: string): string;
  /** Directory a consumer passes to `from_pretrained` for this commit. */
  snapshotDir(commit: string): string;
  /** May the file already at `blobPath` be used as is? */
  canReuse(file: ResolvedFile): Promise<boolean>;
  /** Make `consumerPath` show the verified blob. */
  link(commit: string, file: ResolvedFile): Promise<void>;
  /** Called before the first file of `commit` is written: layouts that overwrite in place forget what was complete. */
  prepare?(commit: string): Promise<void>;
  /**
   * Record the revision → commit mapping and the layout's own markers. `snapshot` is the whole listing of the commit
   * (HF readers cache it), `files` the ones this request put in place (its filters applied).
   */
  finish(model: ModelRequest, snapshot: Snapshot, files: ResolvedFile[]): Promise<void>;
  /**
   * The layout's own records and links beside the model's files (HF: `refs/<revision>`; ModelScope: `.msc`, `.mdl`,
   * `.mv`, the dotted-name and compat links), for copying a complete model elsewhere (serverless images).
   */
  layoutFiles?(model: ModelRequest, commit: string): string[];
  /** After the manifest: tidy what the download left that nobody needs (empty temp folders). */
  cleanup?(): Promise<void>;
  /** Does the layout's own revision record agree (zero network)? */
  revisionMatches(model: ModelRequest, commit: string): Promise<boolean>;
  /** How a problem with the revision record is named to the user (HF `refs/main`). */
  revisionRecordName(model: ModelRequest): string;
  /** What a file of `layoutFiles` (or a manifest) is to readers. */
  roleOf(path: string): FileRole;
  history?: CommitHistory;
  /** ModelScope: the per-file revisions its `.msc` records, and the revision's creation time (epoch s) from `.mv`. */
  fileRevisions?(): Promise<Map<string, string>>;
  createdAt?(): Promise<number | undefined>;
}
