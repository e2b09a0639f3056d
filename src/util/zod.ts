import { createRequire } from "node:module";
import type * as Zod from "zod";

/** `build()`, called once, at the first call of the returned function. */
export function lazy<T>(build: () => T): () => T {
  let value: { built: T } | undefined;
  return () => (value ??= { built: build() }).built;
}

/**
 * zod, loaded at its first use. Importing it costs 65-125 ms on Node 20 (it loads the messages of every locale it
 * ships), a fifth of the start-up of a run that validates nothing: `download-models org/model`, `--version`,
 * `path`, `env`. Its CommonJS build is the same library and loads synchronously, so validators stay synchronous;
 * every schema of the tool goes through here, so one run loads one copy.
 */
export const zod = lazy(() => (createRequire(import.meta.url)("zod") as typeof Zod).z);
