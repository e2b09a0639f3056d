import type { z } from "zod";
import { lazy, zod } from "../util/index.ts";

/** The one lockfile version this tool reads and writes. */
export const LOCKFILE_VERSION = 1;

/** The lockfile's schemas, built when a lockfile is first read: a run without one does not load zod. */
function schemas() {
  const z = zod();
  const hex = (n: number) => z.string().regex(new RegExp(`^[0-9a-f]{${n}}$`), { error: `expected ${n} lowercase hex digits` });

  const lockFileSchema = z.strictObject({
    path: z.string().min(1),
    size: z.number().int().nonnegative(),
    sha256: hex(64).optional(),
    gitSha1: hex(40).optional(),
    /** The git blob id the hub lists (for LFS files: the pointer's): HF readers' listing cache names every file by it. */
    gitOid: hex(40).optional(),
    /** ModelScope's per-file `Revision` (the last commit that changed the file). */
    revision: z.string().min(1).optional(),
  });

  const lockEntrySchema = z.strictObject({
    source: z.string().min(1),
    id: z.string().min(1),
    /** What the projects ask for: a branch, tag or commit. */
    revision: z.string().min(1),
    include: z.array(z.string()),
    exclude: z.array(z.string()),
    /**
     * HuggingFace: the commit the revision resolved to. ModelScope publishes no commit id for a branch: there it is the
     * digest of the listing (paths, per-file revisions, sha256, sizes) that the store records as the model's commit.
     */
    commit: z.string().min(1),
    projects: z.array(z.string()),
    files: z.array(lockFileSchema),
    /**
     * Files of the commit that the filters leave out: never downloaded, but recorded so that the listing cache HF
     * readers need (`trees/<commit>.json`) can hold the whole commit without asking the hub.
     */
    unselected: z.array(lockFileSchema).optional(),
  }).superRefine((entry, ctx) => {
    // A HuggingFace commit names a snapshot folder and refs/<branch> on the volume: anything but a full commit id
    // there would be written as if it were one.
    if (entry.source === "huggingface" && !/^[0-9a-f]{40}$/.test(entry.commit)) {
      ctx.addIssue({
        code: "custom", path: ["commit"],
        message: `hf:${entry.id}: "${entry.commit}" is not a HuggingFace commit (40 lowercase hex digits); run \`download-models lock --update hf:${entry.id}@${entry.revision}\` to pin it again`,
      });
    }
  });

  const lockSchema = z.strictObject({
    lockfileVersion: z.literal(LOCKFILE_VERSION),
    models: z.array(lockEntrySchema),
  });
  return { lockFileSchema, lockEntrySchema, lockSchema };
}

export const lockSchema = lazy(() => schemas().lockSchema);

type Schemas = ReturnType<typeof schemas>;
export type LockFile = z.infer<Schemas["lockFileSchema"]>;
export type LockEntry = z.infer<Schemas["lockEntrySchema"]>;
export type Lock = z.infer<Schemas["lockSchema"]>;
