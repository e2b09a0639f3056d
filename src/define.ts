// What plugin files import. Kept free of runtime dependencies so that a plugin loads fast and anywhere.
import type { Downloader } from "./sources/index.ts";
import type { ProjectConfig } from "./select/index.ts";

export type { Downloader, ResolveContext, FailedResponse, DescribeContext } from "./sources/index.ts";
export type { ProjectConfig } from "./select/index.ts";
export type { ModelSpec, ModelRequest, ResolvedFile, Snapshot } from "./types.ts";

/** Type helper for `projects/<name>.ts`: `export default defineProject({ name, models })`. Validation happens at load. */
export function defineProject(config: ProjectConfig): ProjectConfig {
  return config;
}

/** Type helper for `downloaders/<name>.ts`: `export default defineDownloader({ name, resolve })`. */
export function defineDownloader(downloader: Downloader): Downloader {
  return downloader;
}
