// `node --import` this file to record every module the process loads, one URL a line, in $LOAD_PROBE_FILE.
// Loader hooks see ES modules and the entry of each CommonJS package imported from one (undici, commander).
import { register } from "node:module";

register("data:text/javascript," + encodeURIComponent(`
  import { appendFileSync } from "node:fs";
  export async function load(url, context, next) {
    appendFileSync(process.env.LOAD_PROBE_FILE, url + "\\n");
    return next(url, context);
  }
`));
