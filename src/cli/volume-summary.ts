import { formatBytes } from "../util/index.ts";
import { layoutOf } from "../store/index.ts";
import type { Registry } from "../sources/index.ts";
import type { ModelRequest } from "../types.ts";
import { readerSupport, type ReaderSupport } from "../remote/index.ts";
import type { VolumeManifest } from "../remote/index.ts";
import type { ModelOnVolumes, TargetTally } from "../remote/index.ts";

/** One line per target: what it got, or why it failed. */
export function targetLine(t: TargetTally): string {
  const what = `${t.uploaded} model${t.uploaded === 1 ? "" : "s"} uploaded (${t.objects} object${t.objects === 1 ? "" : "s"}, ${formatBytes(t.bytesSent)} sent), ${t.skipped} already complete`;
  if (t.failed === 0) return `  ok          ${t.target}: ${what}`;
  const full = t.full ? " (volume full: nothing more was sent to it)" : "";
  return [`  FAILED      ${t.target}: ${what}, ${t.failed} failed${full}`, ...t.errors.map((e) => `      ${e}`)].join("\n");
}

/** Which reader versions load each model on the volume as it is, and which need `download-models link`. */
export function readerLines(placed: ModelOnVolumes[], there: Set<ModelRequest>, registry: Registry): { lines: string[]; json: Record<string, ReaderSupport> } {
  const models = [...placed.filter((p) => p.targets.length > 0).map((p) => ({ model: p.model, manifest: p.volumeModel?.manifest as VolumeManifest | undefined, keys: p.volumeModel?.files.map((f) => f.key) })), ...[...there].map((model) => ({ model, manifest: undefined, keys: undefined }))];
  const json: Record<string, ReaderSupport> = {};
  const lines: string[] = [];
  for (const { model, manifest, keys } of models) {
    const layout = layoutOf(registry.get(model.source));
    const support = readerSupport({
      layout,
      dotted: (model.id.split("/")[1] ?? "").includes("."),
      treeListing: keys ? keys.some((k) => k.includes("/trees/")) : true,
      modelscopeCopies: manifest?.modelscopeCopies ?? false,
    });
    const label = `${model.source}:${model.id}@${model.revision}`;
    json[label] = support;
    lines.push(`  ${label}`, `    loads as is: ${support.asIs.join("; ")}`);
    if (support.needLink.length) {
      lines.push(`    needs \`download-models link\` (once, in any Pod or worker that mounts the volume): ${support.needLink.join("; ")}`);
      lines.push(`    or without link: ${support.alternatives.join("; ")}`);
    }
  }
  return { lines: lines.length ? ["Readers of the volume (filled over S3, no symlinks):", ...lines] : [], json };
}
