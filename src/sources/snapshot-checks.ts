import type { ModelRequest, ResolvedFile, Snapshot } from "../types.ts";
import { SnapshotError } from "../errors.ts";
import { unsafePathReason } from "../util/index.ts";

/** The checks the core owes the filesystem, whatever the downloader says: safe, unique paths; sane sizes; http(s). */
export function checkSnapshot(snapshot: Snapshot, model: ModelRequest): void {
  const label = `${model.id}@${model.revision}`;
  const fail = (message: string, path?: string) => new SnapshotError(`${label}: ${message}`, label, path);
  if (!snapshot.commit || unsafePathReason(snapshot.commit)) throw fail("the source resolved no usable commit");
  const seen = new Set<string>();
  for (const f of snapshot.files) {
    const reason = unsafePathReason(f.path);
    if (reason) throw fail(`refusing listed file ${JSON.stringify(f.path)}: ${reason}`, f.path);
    if (seen.has(f.path)) throw fail(`the listing names ${f.path} twice`, f.path);
    seen.add(f.path);
    if (!Number.isSafeInteger(f.size) || f.size < 0) throw fail(`${f.path} has no valid size`, f.path);
    if (!/^https?:\/\//.test(f.url)) throw fail(`${f.path} has a non-HTTP URL`, f.path);
  }
  // Each folder is looked at once, not once per file in it (a listing may have 300,000 files in a few hundred).
  const folders = new Map<string, string>();
  let parent = "";
  for (const p of seen) {
    const end = p.lastIndexOf("/");
    if (end <= 0 || (end === parent.length && p.startsWith(parent))) continue;
    parent = p.slice(0, end);
    for (let i = end; i > 0; i = p.lastIndexOf("/", i - 1)) {
      const folder = p.slice(0, i);
      if (folders.has(folder)) break; // and the folders above it
      folders.set(folder, p);
    }
  }
  for (const [folder, p] of folders) if (seen.has(folder)) throw fail(`${folder} is listed both as a file and as a folder`, p);
}

export function describeNoMatch(model: ModelRequest, all: ResolvedFile[]): string {
  if (all.length === 0) return `${model.id}@${model.revision}: the repo has no files at this revision (nothing to download).`;
  const sample = all.slice(0, 8).map((f) => f.path).join(", ");
  return (
    `${model.id}@${model.revision}: no file matches include [${model.include.join(", ")}]` +
    (model.exclude.length ? ` / exclude [${model.exclude.join(", ")}]` : "") +
    ` (the repo has ${all.length} files${all.length ? `: ${sample}${all.length > 8 ? ", …" : ""}` : ""})`
  );
}
