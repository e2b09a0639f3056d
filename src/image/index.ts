// The image stage: one reproducible layer per model, pushed to a registry (only missing blobs) or written as an
// OCI image layout, without a container daemon.
export { buildImage, type BuildImageOptions, type ImageEvent, type ImageOutput, type ImageSummary, type LayerSummary, type BlobStatus } from "./build.ts";
export type { Compression } from "./layer.ts";
export type { Platform } from "./base.ts";
export type { Credentials } from "./credentials.ts";
export { ImageError, RegistryError } from "./errors.ts";
export { parseImageRef, formatRef, isLoopback } from "./registry.ts";
export { runpodReferences, type RunpodReference } from "./runpod.ts";
