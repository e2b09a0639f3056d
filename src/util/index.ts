// The door of util/: everything other stages use from it.
export { DEFAULT_CONNECTIONS, DEFAULT_FILES, DEFAULT_MODELS, DEFAULT_RANGE_THRESHOLD } from "./defaults.ts";
export { expandHome, userCacheDir } from "./cache-home.ts";
export { alignColumns, formatBytes, formatRate, formatSeconds, type ColumnOptions } from "./format.ts";
export { entryExists, freeBytes, removeCutShortWrites, sizeOf, symlinkAtomic, symlinksUnsupported, writeFileAtomic } from "./fs-utils.ts";
export { packageRoot } from "./package-root.ts";
export { processIsGone } from "./process.ts";
export { type Disk, createDisk, inside, relativeWithin, unsafePathReason } from "./path-safety.ts";
export { matchesFilters } from "./patterns.ts";
export { allOfGrowing, eachLimited } from "./pool.ts";
export { type Loaded, displayPath, importDefault, listPluginFiles, loadInWorker, pluginTimeoutMs } from "./plugin-files.ts";
export { patternSet, requestKey, selectionKey } from "./request-key.ts";
export { type Redactor, createRedactor, redactUrl } from "./redact.ts";
export { lazy, zod } from "./zod.ts";
