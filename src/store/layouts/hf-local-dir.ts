import { stat } from "node:fs/promises";
import { join } from "node:path";
import type { ResolvedFile, Snapshot } from "../../types.ts";
import { inside, writeFileAtomic } from "../../util/index.ts";
import { treeCache } from "./huggingface.ts";

/**
 * huggingface_hub's own records of a `local_dir` download, written once every file is in place:
 * `.cache/huggingface/.gitignore` (`*`), `download/<path>.metadata` per file (commit, etag, time; the reader trusts
 * a file only when its mtime is at most one second after that time, so it is written after the file) and
 * `trees/<commit>.json` (the commit's listing, which offline `snapshot_download(local_dir=…, revision=<commit>)` needs).
 */
export async function hubLocalDirRecords(dir: string, snapshot: Snapshot, files: readonly ResolvedFile[]): Promise<void> {
  const hub = join(dir, ".cache", "huggingface");
  await writeFileAtomic(join(hub, ".gitignore"), "*");
  const tree = treeCache(snapshot);
  if (tree) await writeFileAtomic(join(hub, "trees", `${snapshot.commit}.json`), tree);
  for (const f of files) {
    const etag = f.sha256 ?? f.gitSha1 ?? f.etag;
    if (!etag) continue;
    const mtime = (await stat(inside(dir, f.path))).mtimeMs / 1000;
    // Python's time.time() as str(): seconds with a fraction.
    const at = Math.max(Date.now() / 1000, mtime);
    await writeFileAtomic(inside(join(hub, "download"), `${f.path}.metadata`), `${snapshot.commit}\n${etag}\n${at}\n`);
  }
}
