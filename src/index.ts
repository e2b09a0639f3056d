// The public API: enough to run a download from code. Everything else in src/ is internal.

// Plugins
export { defineProject, defineDownloader } from "./define.ts";
export type { ProjectConfig, Project } from "./project.ts";
export type { Downloader, ResolveContext, FailedResponse, DescribeContext } from "./downloader.ts";
export type { ModelSpec, ModelRequest, ResolvedFile, Snapshot, LayoutName } from "./types.ts";

// Registry, projects, selection, roots
export { builtinDownloaders, createRegistry, loadRegistry, type Registry } from "./registry.ts";
export { loadProjects, validateProject } from "./project.ts";
export { toRequest, dedupe, projectModels } from "./requests.ts";
export {
  loadSelection, selectModels, commandLineModels, pickProjects, projectDirs, downloaderDirs,
  type Selection, type PluginDirs, type LoadSelectionOptions, type LoadedSelection,
} from "./selection.ts";
export { resolveRoots, consumerEnv, type Roots, type RootOptions, type Env } from "./roots.ts";

// Download, verify, consumers
export { runDownload, type RunDownloadOptions, type Summary } from "./run-download.ts";
export { DEFAULT_CONNECTIONS, DEFAULT_FILES, DEFAULT_MODELS } from "./defaults.ts";
export { createRedactor, redactUrl, type Redactor } from "./redact.ts";
export { verifyModels, modelsOnDisk, type VerifyResult, type FileProblem } from "./verify-models.ts";
export { consumerSetup, cachesFor, type ConsumerSetup, type SubModelNote } from "./consumers.ts";

// Events and errors
export { modelLabel, type DownloadEvent, type EventSink, type ModelResult, type ModelStatus } from "./events.ts";
export {
  DownloadModelsError, UsageError, ConfigError, RootError, HubError, DownloadGaveUpError, IntegrityError, SnapshotError,
  UnsafePathError, DiskSpaceError, SiblingFailedError,
} from "./errors.ts";
export { bake, BakeError, type BakeOptions, type BakedModel } from "./serverless/bake.ts";
