/** HTTP connections open at once across every file of a run (`--connections`). */
export const DEFAULT_CONNECTIONS = 32;
/** Files downloaded at once across every model of a run (`--concurrency`). */
export const DEFAULT_FILES = 32;
/** Models resolved at once (hub API calls). */
export const DEFAULT_MODELS = 4;
