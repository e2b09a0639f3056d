// The door of store/: everything other stages use from it.
export { BakeError, type BakeOptions, type BakedModel, bake, bakedModel, bakedRecords } from "./bake.ts";
export { layoutOf } from "./layouts/index.ts";
export { modelscopeCopyDirs, modelscopePaths } from "./layouts/modelscope.ts";
export { type BlobOnDisk, type CommitHistory, type FileRole, type ListedFile, type ModelStore, type RefOnDisk } from "./layouts/store.ts";
export { type Cache, type CacheOptions, type CompleteModel, type ModelOnDisk, type PartialFile, type StoredFile, openCache } from "./cache.ts";
export { linkVolume } from "./link.ts";
export { type DownloadHold, enterDownload, enterReader } from "./model-lease.ts";
export { type Manifest, filtersKey, findComplete, manifestPath, writeManifest, writtenOrderFiltersKey } from "./manifest.ts";
export { type ApplyOptions, type PruneItem, type PruneKind, type PruneOptions, type PrunePlan, type SkippedModel, applyPrune, formatPlan, planPrune } from "./prune.ts";
export { type Env, type RootOptions, type Roots, consumerEnv, resolveRoots, rootFor } from "./roots.ts";
export { type ModelState, type ModelStatus as StoredModelStatus, type RootUsage, type StatusOptions, type UndeclaredItem, type VolumeStatus, formatStatus, volumeStatus } from "./status.ts";
export { type FileProblem, type VerifyModelsOptions, type VerifyResult, discardProblems, modelsOnDisk, verifyModels } from "./verify-models.ts";
