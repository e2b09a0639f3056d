// The public API: what the CLI does, from code (download, lock, status, prune, verify, bake, the volume fill).
// Everything else in src/ is internal.

// Plugins
export { defineProject, defineDownloader } from "./define.ts";
export type { ProjectConfig, Project } from "./select/index.ts";
export type { Downloader, ResolveContext, FailedResponse, DescribeContext } from "./sources/index.ts";
export type { ModelSpec, ModelRequest, ResolvedFile, Snapshot, LayoutName } from "./types.ts";

// Registry, projects, selection, roots
export { builtinDownloaders, createRegistry, loadRegistry, type Registry } from "./sources/index.ts";
export { loadProjects, validateProject } from "./select/index.ts";
export { toRequest, dedupe, projectModels } from "./select/index.ts";
export {
  loadSelection, selectModels, commandLineModels, pickProjects, projectDirs, downloaderDirs,
  type Selection, type PluginDirs, type LoadSelectionOptions, type LoadedSelection,
} from "./select/index.ts";
export { resolveRoots, consumerEnv, type Roots, type RootOptions, type Env } from "./store/index.ts";

// Download, verify, consumers
export { runDownload, type RunDownloadOptions, type Summary } from "./download/index.ts";
export { DEFAULT_CONNECTIONS, DEFAULT_FILES, DEFAULT_MODELS } from "./util/index.ts";
export { createRedactor, redactUrl, type Redactor } from "./util/index.ts";
export { verifyModels, modelsOnDisk, type VerifyModelsOptions, type VerifyResult, type FileProblem } from "./store/index.ts";
export { openCache, type Cache, type CacheOptions, type CompleteModel, type StoredFile, type ModelOnDisk, type PartialFile } from "./store/index.ts";
export { consumerSetup, cachesFor, type ConsumerSetup, type SubModelNote } from "./download/index.ts";

// Events and errors
export { modelLabel, type DownloadEvent, type EventSink, type ModelResult, type ModelStatus } from "./download/index.ts";
export {
  DownloadModelsError, UsageError, ConfigError, RootError, ServiceError, HubError, DownloadGaveUpError, IntegrityError,
  SnapshotError, UnsafePathError, DiskSpaceError, SiblingFailedError, InterruptedError, RemoteFileChangedError,
  LocalFileChangedError, LeaseLostError, OverlongResponseError, NoMatchingFilesError, StalledError, VerifyReadError,
  PickleFormatError, InstallationError,
} from "./errors.ts";
export { bake, BakeError, type BakeOptions, type BakedModel } from "./store/index.ts";

// The lockfile: read, resolve against the hubs, write
export {
  LockfileError, lockPathFor, readLock, writeLock, findEntry, putEntry, requestOf, modelRef, diffEntries, formatDiff,
  frozenProblems, formatFrozenProblems, type Lock, type LockEntry, type LockFile, type EntryDiff,
} from "./lockfile/index.ts";
export { lockModels, type LockChanges, type ResolveEntriesOptions } from "./sources/index.ts";

// The store: what is on disk (read side), status against the lock, prune (plan, then apply)
export { layoutOf, findComplete, manifestPath, type ModelStore, type Manifest } from "./store/index.ts";
export {
  volumeStatus, formatStatus, type StatusOptions, type VolumeStatus, type StoredModelStatus, type ModelState,
  type UndeclaredItem, type RootUsage,
} from "./store/index.ts";
export {
  planPrune, applyPrune, formatPlan, type PruneOptions, type PrunePlan, type PruneItem, type PruneKind,
  type ApplyOptions, type SkippedModel,
} from "./store/index.ts";

// The volume fill over S3 brings in the AWS SDK (seconds and ~25 MB on a cold start): loaded on the first call.
export type {
  S3Target, S3Connection, S3Credentials, ParseVolumeOptions, CredentialOptions, Uploader, UploaderOptions,
  UploadContext, ModelOnVolumes, TargetTally,
} from "./remote/index.ts";
/** The volume fill's functions (parse and check `--volume` targets, upload models complete in a staging store to them), loaded on the first call. */
export async function volumeFill() {
  const r = await import("./remote/index.ts");
  return {
    parseVolume: r.parseVolume, resolveCredentials: r.resolveCredentials, connect: r.connect, disconnect: r.disconnect,
    checkTargets: r.checkTargets, completeOnVolume: r.completeOnVolume, createUploader: r.createUploader,
    uploadStateDir: r.uploadStateDir,
  };
}
