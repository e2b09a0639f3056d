import { createRequire } from "node:module";
import type * as Undici from "undici";

/**
 * undici, the parts this tool uses: its connection pools (`Agent`), `request` and the global dispatcher. Loading the
 * package's index also loads fetch, WebSocket, cookies, caches, mocks and HTTP/2 glue: ~170 ms of CPU at every start
 * where these parts take ~60 ms (measured on Node 20). The files below are the same modules the index re-exports, so
 * `Agent` here is undici's `Agent`, and a dispatcher made here is one the rest of undici accepts.
 */
const load = createRequire(import.meta.url);

export const Agent: typeof Undici.Agent = load("undici/lib/dispatcher/agent.js");
export const getGlobalDispatcher: typeof Undici.getGlobalDispatcher = load("undici/lib/global.js").getGlobalDispatcher;
// What the index does to give every dispatcher its `request()` (and `stream()`, `pipeline()`…) method.
Object.assign((load("undici/lib/dispatcher/dispatcher.js") as { prototype: object }).prototype, load("undici/lib/api/index.js"));

export type RequestOptions = Omit<Undici.Dispatcher.RequestOptions, "origin" | "path" | "method"> & {
  method?: Undici.Dispatcher.HttpMethod;
  /** @default undici's global dispatcher */
  dispatcher?: Undici.Dispatcher | undefined;
};

/** undici's `request(url, options)`: one request through `options.dispatcher`; the body is the caller's to read. */
export function request(url: string | URL, { dispatcher, method, ...options }: RequestOptions): Promise<Undici.Dispatcher.ResponseData> {
  const u = typeof url === "string" ? new URL(url) : url;
  return (dispatcher ?? getGlobalDispatcher()).request({ ...options, origin: u.origin, path: u.pathname + u.search, method: method ?? "GET" });
}
