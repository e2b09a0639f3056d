import { randomBytes } from "node:crypto";
import { readdir, readFile, rm, rmdir, stat } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { acquireLease, deadOnThisHost, holderOf, type FileLease, type LeaseTiming } from "../transfer/index.ts";
import { sleep } from "../net/index.ts";
import { writeFileAtomic } from "../util/index.ts";
import type { ModelStore } from "./layouts/store.ts";

// Prune and download exclude each other per model, across processes and Pods, with the file leases' rules (O_EXCL,
// heartbeat, staleness by the observer's own clock; no flock). Downloads of one model still run side by side:
// each holds its own `download.<random>.lease`, registered under the model's gate; a prune holds the gate itself
// for as long as it works on the model, so no download registers meanwhile.
const GATE = "model.lease";
const GENERATION = "generation";
const HOLDER = /^download\.[0-9a-f]+\.lease$/;

/**
 * Where a model's leases (and an interrupted prune's journal) live: outside the model's folder, which a prune may
 * remove whole while it holds them. HF: `<hub>/.locks/download-models/…`, a folder huggingface_hub's own cache
 * scan skips; a `--local-dir` folder: beside this tool's other records in it.
 */
export function leaseDir(store: Pick<ModelStore, "root" | "modelDir" | "manifestDir">): string {
  if (store.modelDir === store.root) return join(dirname(store.manifestDir), "leases");
  return join(leasesRoot(store.root), encodeURIComponent(relative(store.root, store.modelDir).split(sep).join("/")));
}

/** The folder holding every model's lease folder under a cache root. */
export const leasesRoot = (root: string) => join(root, ".locks", "download-models");

export interface EnterDownloadParams {
  store: Pick<ModelStore, "root" | "modelDir" | "manifestDir">;
  timing: LeaseTiming;
  signal?: AbortSignal;
  /** Told who holds the model (a prune) when the download has to wait. */
  onWait?: (holder: string) => void;
}

export interface DownloadHold {
  release(): Promise<void>;
}

/**
 * Register a download of the model: waits while a prune holds the model (`onWait` is told who), then marks that a
 * download happened (the generation a prune compares) and holds a lease of its own until released.
 */
export async function enterDownload({ store, timing, signal, onWait }: EnterDownloadParams): Promise<DownloadHold> {
  // A --local-dir folder is no cache: no prune looks at it.
  if (store.modelDir === store.root) return { release: async () => {} };
  const dir = leaseDir(store);
  const gate = await acquireLease({ path: join(dir, GATE), timing, signal, onWait });
  try {
    await writeFileAtomic(join(dir, GENERATION), randomBytes(8).toString("hex"));
    const own = await acquireLease({ path: join(dir, `download.${randomBytes(8).toString("hex")}.lease`), timing, signal });
    return { release: () => own.release() };
  } finally {
    await gate.release();
  }
}

/**
 * Hold a complete model while it is read (copied by bake, packed by image): registered like a download, so a prune
 * of the store (another build sharing the cache) leaves the model alone meanwhile. A store this process cannot write
 * (a read-only mount) takes no lease: nobody prunes it from here either.
 */
export async function enterReader(params: EnterDownloadParams): Promise<DownloadHold> {
  try {
    return await enterDownload(params);
  } catch (error) {
    if (["EROFS", "EACCES", "EPERM"].includes((error as NodeJS.ErrnoException).code ?? "")) return { release: async () => {} };
    throw error;
  }
}

/** The gate of a model, held by a prune for as long as it removes anything of it. */
export async function enterPrune(dir: string, timing: LeaseTiming, signal?: AbortSignal): Promise<FileLease> {
  return acquireLease({ path: join(dir, GATE), timing, signal });
}

/** A download's lease as read: its name in the lease folder and its content (the heartbeat rewrites it). */
export interface HolderSeen {
  name: string;
  content: string;
  mtimeMs: number;
}

export interface LeasesSeen {
  /** Changed by every download that registered: a prune planned before one must not apply after it. */
  generation: string;
  holders: HolderSeen[];
}

export async function readLeases(dir: string): Promise<LeasesSeen> {
  const generation = await readFile(join(dir, GENERATION), "utf8").catch(() => "");
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => HOLDER.test(n));
  const holders: HolderSeen[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const [content, st] = await Promise.all([readFile(path, "utf8").catch(() => undefined), stat(path).catch(() => undefined)]);
    if (content !== undefined && st) holders.push({ name, content, mtimeMs: st.mtimeMs });
  }
  return { generation, holders };
}

export interface HoldersToJudge {
  /** The model's lease folder. */
  dir: string;
  seen: readonly HolderSeen[];
  timing: LeaseTiming;
  /** When `seen` was read. */
  now?: number;
  signal?: AbortSignal;
}

/**
 * Split the holders seen into live downloads and dead ones. Rewritten within `staleMs` → live at once; its process
 * gone on this host → dead at once; otherwise watched, by this process's clock, until its content changes (live)
 * or `staleMs` passes without a change (dead): clocks of other Pods never decide.
 */
export async function judgeHolders({ dir, seen, timing, now = Date.now(), signal }: HoldersToJudge): Promise<{ live: HolderSeen[]; dead: HolderSeen[] }> {
  const live: HolderSeen[] = [];
  const dead: HolderSeen[] = [];
  let watched: HolderSeen[] = [];
  for (const h of seen) {
    if (deadOnThisHost(holderOf(h.content))) dead.push(h);
    else if (now - h.mtimeMs < timing.staleMs) live.push(h);
    else watched.push(h);
  }
  const since = Date.now();
  while (watched.length > 0) {
    const still: HolderSeen[] = [];
    for (const h of watched) {
      const content = await readFile(join(dir, h.name), "utf8").catch(() => undefined);
      if (content === undefined) continue; // released meanwhile: nothing to judge
      if (content !== h.content) live.push(h);
      else still.push(h);
    }
    watched = still;
    if (watched.length === 0) break;
    if (Date.now() - since >= timing.staleMs) {
      dead.push(...watched);
      break;
    }
    await sleep(Math.min(timing.pollMs, timing.heartbeatMs), signal);
  }
  return { live, dead };
}

/** Remove dead holders that are still as they were judged (a holder that beat again is not touched). */
export async function removeDeadHolders(dir: string, dead: readonly { name: string; content: string }[]): Promise<void> {
  for (const h of dead) {
    const path = join(dir, h.name);
    if ((await readFile(path, "utf8").catch(() => undefined)) === h.content) await rm(path, { force: true });
  }
}

/** Drop a model's lease folder once nothing is in it (a download taking a lease meanwhile makes it again). */
export async function tidyLeaseDir(dir: string): Promise<void> {
  await rmdir(dir).catch(() => {});
}
