import type { ModelRequest, ResolvedFile, Snapshot } from "../../types.ts";

/**
 * Where one model's files live on disk, for one layout. The core downloads into `tempPath`, verifies, renames to
 * `blobPath`, then calls `link`; `finish` runs once every file is in place, before the manifest is written.
 */
export interface ModelStore {
  /** The cache root this store lives under: nothing may be written outside it. */
  root: string;
  /** The model's own directory (HF: `models--org--name`). */
  modelDir: string;
  /** Directory holding this tool's completion manifests. */
  manifestDir: string;
  /** Where older versions of this tool kept the manifests: still read, and removed once the model is finished again. */
  legacyManifestDirs?: string[];
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
}
