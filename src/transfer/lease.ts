import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { mkdir, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { sleep } from "../net/index.ts";
import { processIsGone } from "../util/index.ts";

export interface LeaseTiming {
  /** How often a holder rewrites its lease file. */
  heartbeatMs: number;
  /** A lease whose content has not changed for this long, as seen by the waiter's own clock, is stale. */
  staleMs: number;
  /** How often a waiter looks again. */
  pollMs: number;
}

export interface FileLease {
  /** Set when another process broke this lease (it thought we were dead): stop writing. */
  readonly lost: boolean;
  release(): Promise<void>;
}

const me = `${hostname()}:${process.pid}:${randomBytes(6).toString("hex")}`;

export interface AcquireLeaseParams {
  /** The lease file itself, created with O_EXCL (its folder is made when missing). */
  path: string;
  timing: LeaseTiming;
  /** Asked while waiting: true means another process finished the work, and the wait ends without a lease. */
  isDone?: () => Promise<boolean>;
  signal?: AbortSignal;
  /** Told who holds the lease, once, when the wait begins. */
  onWait?: (holder: string) => void;
}

/**
 * A lease on one piece of work that holds across pods on a shared network volume: created with O_EXCL (no
 * flock, which network filesystems may ignore), kept alive by a heartbeat that rewrites its content, and taken
 * over when that content stops changing for `staleMs` of the waiter's own clock — so neither PIDs (meaningless
 * on another pod) nor clocks (skewed between pods) decide. For a file download a lease only saves bandwidth:
 * correctness rests on unique temp files, verification and atomic renames.
 *
 * Resolves with the lease, or with undefined as soon as `isDone()` says another process finished the work
 * (never without `isDone`).
 */
export function acquireLease(params: AcquireLeaseParams & { isDone: () => Promise<boolean> }): Promise<FileLease | undefined>;
export function acquireLease(params: Omit<AcquireLeaseParams, "isDone">): Promise<FileLease>;
export async function acquireLease({ path, timing, isDone, signal, onWait }: AcquireLeaseParams): Promise<FileLease | undefined> {
  let seen: { content: string; since: number } | undefined;
  let told = false;
  for (;;) {
    signal?.throwIfAborted();
    const content = JSON.stringify({ owner: me, beat: 0, at: new Date().toISOString() });
    try {
      const fh = await open(path, "wx");
      try {
        await fh.writeFile(content);
      } finally {
        await fh.close();
      }
      return hold(path, timing);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // A finished model's empty temp folders are removed: one that was needed again is simply made again.
      if (code === "ENOENT") {
        await mkdir(dirname(path), { recursive: true });
        continue;
      }
      if (code !== "EEXIST") throw error;
    }
    if (isDone && (await isDone())) return undefined;
    const current = await readFile(path, "utf8").catch(() => undefined);
    if (current === undefined) continue; // released meanwhile: try again at once
    if (!told) {
      told = true;
      onWait?.(holderOf(current));
    }
    if (!seen || seen.content !== current) seen = { content: current, since: Date.now() };
    if (Date.now() - seen.since >= timing.staleMs || deadOnThisHost(holderOf(current))) {
      // Move the stale lease aside (atomic: one waiter wins), then check it was the one we judged stale.
      const aside = `${path}.stale-${randomBytes(4).toString("hex")}`;
      try {
        await rename(path, aside);
        await rm(aside, { force: true });
      } catch {
        // another waiter moved it first
      }
      seen = undefined;
      continue;
    }
    await sleep(timing.pollMs, signal);
  }
}

/**
 * A shortcut, not the rule: a holder on this very host whose process is gone is dead now, without waiting for
 * its heartbeat to go stale (a Pod re-running after `kill -9`). Other hosts are judged by the heartbeat alone.
 */
export function deadOnThisHost(owner: string): boolean {
  const [host, pid] = owner.split(":");
  if (host !== hostname() || !pid || !/^\d+$/.test(pid) || Number(pid) === process.pid) return false;
  return processIsGone(Number(pid));
}

export function holderOf(content: string): string {
  try {
    return (JSON.parse(content) as { owner?: string }).owner ?? "another process";
  } catch {
    return "another process";
  }
}

function hold(path: string, timing: LeaseTiming): FileLease {
  let beat = 0;
  let lost = false;
  let stopped = false;
  let writing: Promise<void> | undefined;
  const timer = setInterval(() => {
    // A beat still running (a slow disk) is not overlapped: the next one would read our own half-rewritten file
    // and take it for another process's.
    if (writing) return;
    writing = (async () => {
      const current = await readFile(path, "utf8").catch(() => undefined);
      if (stopped) return;
      if (current === undefined || holderOf(current) !== me) {
        lost = true;
        clearInterval(timer);
        return;
      }
      beat++;
      await writeFile(path, JSON.stringify({ owner: me, beat, at: new Date().toISOString() })).catch(() => {});
    })().finally(() => (writing = undefined));
  }, timing.heartbeatMs);
  timer.unref();
  return {
    get lost() {
      return lost;
    },
    async release() {
      stopped = true;
      clearInterval(timer);
      await writing;
      if (lost) return;
      const current = await readFile(path, "utf8").catch(() => undefined);
      if (current !== undefined && holderOf(current) === me) await rm(path, { force: true });
    },
  };
}
