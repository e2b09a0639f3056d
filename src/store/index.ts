// The door of store/: everything other stages use from it.
export { BakeError, type BakeOptions, type BakedModel, bake } from "./bake.ts";
export { layoutOf, openStore } from "./layouts/index.ts";
export { modelscopePaths } from "./layouts/modelscope.ts";
export { type ModelStore } from "./layouts/store.ts";
export { linkVolume } from "./link.ts";
export { type Manifest, filtersKey, findComplete, manifestPath, writeManifest } from "./manifest.ts";
export { applyPrune, formatPlan, planPrune } from "./prune.ts";
export { type Env, type RootOptions, type Roots, consumerEnv, resolveRoots, rootFor } from "./roots.ts";
export { formatStatus, volumeStatus } from "./status.ts";
export { type FileProblem, type VerifyResult, discardProblems, modelsOnDisk, verifyModels } from "./verify-models.ts";
