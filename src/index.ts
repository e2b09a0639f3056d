export { defineProject, type ProjectConfig } from "./project.ts";
export { defineDownloader, type Downloader, type ResolveContext, type FailedResponse, type DescribeContext } from "./downloader.ts";
export type { ModelSpec, ModelRequest, ResolvedFile, Snapshot } from "./types.ts";
export type { DownloadEvent, ModelResult } from "./events.ts";
export { runDownload, type RunDownloadOptions, type Summary } from "./run-download.ts";
export { resolveRoots, consumerEnv, type Roots } from "./roots.ts";
export { HubError, IntegrityError, UsageError, ConfigError, RootError, DownloadModelsError } from "./errors.ts";
