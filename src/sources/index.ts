// The door of sources/: everything other stages use from it.
export { type DescribeContext, type Downloader, type FailedResponse, type ResolveContext, tokenFor } from "./downloader.ts";
export { type StrDict, pickleDict, pickleDictList, unpickle } from "./modelscope/pickle.ts";
export { subModelsOf } from "./modelscope/submodels.ts";
export { type Registry, builtinDownloaders, createRegistry, loadRegistry } from "./registry.ts";
export { checkSnapshot, describeNoMatch } from "./snapshot-checks.ts";
export { guessSource, idProblem, parseModelRef } from "./model-id.ts";
export { lockModels } from "./resolve-lock.ts";
