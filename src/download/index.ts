// The door of download/: everything other stages use from it.
export { type ConsumerSetup, type SubModelNote, cachesFor, consumerSetup } from "./consumers.ts";
export { type DownloadEvent, type EventSink, type ModelResult, type ModelStatus, modelLabel } from "./events.ts";
export { preflight } from "./preflight.ts";
export { type RunDownloadOptions, type Summary, runDownload } from "./run-download.ts";
