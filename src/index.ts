// The public API: enough to run a download from code. Everything else in src/ is internal.

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
export { createRedactor, redactUrl, type Redactor } from "./net/index.ts";
export { verifyModels, modelsOnDisk, type VerifyResult, type FileProblem } from "./store/index.ts";
export { consumerSetup, cachesFor, type ConsumerSetup, type SubModelNote } from "./download/index.ts";

// Events and errors
export { modelLabel, type DownloadEvent, type EventSink, type ModelResult, type ModelStatus } from "./download/index.ts";
export {
  DownloadModelsError, UsageError, ConfigError, RootError, HubError, DownloadGaveUpError, IntegrityError, SnapshotError,
  UnsafePathError, DiskSpaceError, SiblingFailedError,
} from "./errors.ts";
export { bake, BakeError, type BakeOptions, type BakedModel } from "./store/index.ts";
