import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../util/index.ts";
import type { PruneItem } from "./analyze.ts";
import { leasesRoot } from "./model-lease.ts";

const JOURNAL = "prune-journal.json";

/**
 * What a prune is about to remove of one model, written (atomically) before its first removal and deleted after its
 * last: the manifests go first, so a prune stopped part-way leaves a model no scan of manifests finds any more; the
 * journal is how the next prune (or status) knows it and finishes the job.
 */
export interface PruneJournal {
  format: 1;
  /** `hf:org/name` */
  model: string;
  /** The model's download generation when the prune started: a download since makes the journal void. */
  generation: string;
  items: PruneItem[];
  startedAt: string;
}

export const journalPath = (leaseDir: string) => join(leaseDir, JOURNAL);

export async function writeJournal(leaseDir: string, journal: PruneJournal): Promise<void> {
  await writeFileAtomic(journalPath(leaseDir), JSON.stringify(journal) + "\n");
}

export async function dropJournal(leaseDir: string): Promise<void> {
  await rm(journalPath(leaseDir), { force: true });
}

function parse(text: string): PruneJournal | undefined {
  try {
    const j = JSON.parse(text) as Partial<PruneJournal>;
    if (j.format !== 1 || typeof j.model !== "string" || typeof j.generation !== "string" || !Array.isArray(j.items)) return undefined;
    return j as PruneJournal;
  } catch {
    return undefined;
  }
}

/** The journals of interrupted prunes under these cache roots, with the lease folder each belongs to. */
export async function pendingJournals(roots: readonly string[]): Promise<{ leaseDir: string; journal: PruneJournal }[]> {
  const out: { leaseDir: string; journal: PruneJournal }[] = [];
  for (const root of new Set(roots)) {
    const base = leasesRoot(root);
    for (const name of await readdir(base).catch(() => [] as string[])) {
      const dir = join(base, name);
      const text = await readFile(journalPath(dir), "utf8").catch(() => undefined);
      const journal = text === undefined ? undefined : parse(text);
      if (journal) out.push({ leaseDir: dir, journal });
    }
  }
  return out;
}
