// HuggingFace's allow/ignore patterns are Python `fnmatch.fnmatchcase`: `*` matches `/` too,
// so glob libraries (picomatch, minimatch) would disagree with `hf download`. This is the whole translation.
const cache = new Map<string, RegExp>();

function toRegExp(pattern: string): RegExp {
  let p = pattern;
  if (p.endsWith("/")) p += "*"; // huggingface_hub appends `*` to a folder pattern
  let out = "";
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === "*") out += ".*";
    else if (c === "?") out += ".";
    else if (c === "[") {
      const close = p.indexOf("]", i + 2);
      if (close === -1) {
        out += "\\[";
        continue;
      }
      let body = p.slice(i + 1, close);
      if (body.startsWith("!")) body = "^" + body.slice(1);
      out += `[${body.replace(/\\/g, "\\\\")}]`;
      i = close;
    } else out += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return new RegExp(`^${out}$`, "s");
}

export function fnmatch(path: string, pattern: string): boolean {
  let re = cache.get(pattern);
  if (!re) {
    re = toRegExp(pattern);
    cache.set(pattern, re);
  }
  return re.test(path);
}

/** Include first (empty = everything), then exclude: the order huggingface_hub uses. */
export function matchesFilters(path: string, include: readonly string[], exclude: readonly string[]): boolean {
  if (include.length > 0 && !include.some((p) => fnmatch(path, p))) return false;
  return !exclude.some((p) => fnmatch(path, p));
}
