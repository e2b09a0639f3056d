export { BLOCK_SIZE, deterministicBytes, deterministicChunks, deterministicStream } from "./content.ts";
export { corruptFile, lfsPointerSize, makeFile, makeRepo } from "./repo.ts";
export type { FileSpec, HubCommit, HubFile, HubRepo } from "./repo.ts";
export { handleHuggingFace } from "./huggingface.ts";
export type { HubContext } from "./context.ts";
export { DEFAULT_TOKEN, startLocalHub } from "./server.ts";
export type { ListenerName, LocalHub, LocalHubOptions, RequestRecord } from "./server.ts";
export type { Fault, FaultMix } from "./faults.ts";
