import { Agent } from "undici";
import type { HubRepo, LocalHub } from "@download-models/local-hub";
import { builtinDownloaders, createRegistry } from "../../src/sources/registry.ts";
import { resolveRoots, type Roots } from "../../src/store/roots.ts";
import type { ModelRequest, Snapshot } from "../../src/types.ts";
import { entryFromSnapshot, putEntry, type Lock } from "../../src/lockfile/lockfile.ts";
import { partialBytes } from "../../src/transfer/index.ts";
import { openStore } from "../../src/store/layouts/index.ts";
import { download, hub } from "./hub.ts";

export const registry = createRegistry(builtinDownloaders);

export function rootsOf(root: string): Roots {
  return resolveRoots({ root, env: {} });
}

/** What the built-in downloader resolves `model` to on the hub now (the full listing). */
export async function resolveNow(h: LocalHub, model: ModelRequest): Promise<Snapshot> {
  const dispatcher = new Agent({ connections: 4 });
  try {
    return await registry.get(model.source).resolve(model, { env: { HF_ENDPOINT: h.url, MODELSCOPE_ENDPOINT: h.url }, dispatcher });
  } finally {
    await dispatcher.close();
  }
}

/** `lock` for these models as the hub serves them now. */
export async function lockNow(h: LocalHub, models: ModelRequest[], lock: Lock): Promise<Lock> {
  let out = lock;
  for (const m of models) out = putEntry(out, entryFromSnapshot(m, await resolveNow(h, m)));
  return out;
}

/**
 * Start downloading `model` from a throttled hub serving `repos` and stop it part-way, leaving a resumable partial
 * file of its big file behind.
 */
export async function leavePartial(repos: HubRepo[], root: string, model: ModelRequest): Promise<void> {
  const slow = await hub({ repos, bandwidthPerConnection: 2_000_000 });
  const abort = new AbortController();
  // About 4 MB/s: a file of 8 MB or more is still being fetched after one second.
  const timer = setTimeout(() => abort.abort(new Error("stopped by the test")), 1000);
  try {
    await download(slow, root, [model], {
      signal: abort.signal,
      transfer: { rangeThreshold: 1 << 20, chunkSize: 256 << 10, checkpointMs: 20, connections: 2 },
    });
  } finally {
    clearTimeout(timer);
  }
}

/** Bytes recorded for resume in the temp file of `path` of the model's current listing. */
export async function recordedBytes(h: LocalHub, root: string, model: ModelRequest, path: string): Promise<number> {
  const file = (await resolveNow(h, model)).files.find((f) => f.path === path)!;
  return partialBytes(openStore({ downloader: registry.get(model.source), model, roots: rootsOf(root) }).tempPath(file), file.size);
}

