import { relative } from "node:path";
import type { Env } from "../store/index.ts";
import { loadSelection, type PluginDirs } from "../select/index.ts";
import { linkVolume } from "../store/index.ts";
import type { Output } from "./reporter.ts";

/**
 * `download-models link`: in a Pod or worker that mounts a volume filled over S3, add the links S3 cannot
 * create (ModelScope's dotted-name and older-layout links). Local files only; safe to run again.
 */
export async function linkCommand(options: PluginDirs & { root?: string; json?: boolean }, io: Output, env: Env): Promise<number> {
  const { registry, roots } = await loadSelection({ ...options, ids: [], env });
  const results = await linkVolume(registry, roots);
  if (options.json) {
    io.out(JSON.stringify({ type: "link", root: roots.modelscope, models: results.map((r) => ({ source: r.model.source, id: r.model.id, revision: r.model.revision, linked: r.linked, kept: r.kept, replaced: r.replaced })) }));
    return 0;
  }
  for (const r of results) {
    const rel = (paths: string[]) => paths.map((p) => relative(roots.modelscope, p)).join(", ");
    io.out(`  linked      ${r.model.source}:${r.model.id}: ${r.linked.length} link${r.linked.length === 1 ? "" : "s"}${r.linked.length ? ` (${rel(r.linked)})` : ""}`);
    if (r.replaced.length) io.out(`      replaced stub folders of failed old-reader lookups: ${rel(r.replaced)}`);
    if (r.kept.length) io.out(`      left real folders alone (copies or other data): ${rel(r.kept)}`);
  }
  io.out(
    `${results.length} ModelScope model${results.length === 1 ? "" : "s"} linked under ${roots.modelscope} (${roots.why.modelscope}). ` +
      "HuggingFace models need no links: their readers take regular snapshot files.",
  );
  return 0;
}
