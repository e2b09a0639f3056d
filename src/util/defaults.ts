/** HTTP connections open at once across every file of a run (`--connections`). */
export const DEFAULT_CONNECTIONS = 32;
/** Files downloaded at once across every model of a run (`--concurrency`). */
export const DEFAULT_FILES = 32;
/** Models resolved at once (hub API calls). */
export const DEFAULT_MODELS = 4;
/** Files at or above this size are fetched as parallel Range chunks and keep a resume record. */
export const DEFAULT_RANGE_THRESHOLD = 16 * 1024 * 1024;
