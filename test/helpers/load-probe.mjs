// `node --import` this file to record every module the process loads, one URL a line, in $LOAD_PROBE_FILE.
// Loader hooks see ES modules and the entry of each CommonJS package imported from one (undici, commander); the
// CommonJS loader's cache, written out at exit, adds what `require()` loaded (zod, loaded that way on first use).
import { appendFileSync } from "node:fs";
import { createRequire, register } from "node:module";
import { pathToFileURL } from "node:url";

register("data:text/javascript," + encodeURIComponent(`
  import { appendFileSync } from "node:fs";
  export async function load(url, context, next) {
    appendFileSync(process.env.LOAD_PROBE_FILE, url + "\\n");
    return next(url, context);
  }
`));

const { _cache: required } = createRequire(import.meta.url)("node:module");
process.on("exit", () => {
  const urls = Object.keys(required).map((path) => pathToFileURL(path).href);
  if (urls.length > 0) appendFileSync(process.env.LOAD_PROBE_FILE, urls.join("\n") + "\n");
});
