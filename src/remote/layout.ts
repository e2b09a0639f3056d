import { lstat } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { modelscopeCopyDirs, type CompleteModel } from "../store/index.ts";
import type { FileRole } from "../store/index.ts";
import type { LayoutName, ModelRequest } from "../types.ts";
import { keyFor } from "./target.ts";
import { recordKeyFor } from "./volume-record.ts";
import type { ModelFile, VolumeModel } from "./model.ts";

// Readers must never see a marker before the data it announces: data, then trees and ModelScope's .mdl/.mv, then
// HF refs and .msc, then this tool's own records (the volume record itself comes after all of them).
const DATA = 0;
const LISTING = 1;
const MARKER = 2;
const RECORD = 3;

export interface VolumeLayoutInput {
  /** The model complete in the staging store. */
  complete: CompleteModel;
  /** The staging root (what `--root` names): keys are the paths below it, under the target's prefix. */
  stagingRoot: string;
  prefix: string;
  /** `--modelscope-compat=copy`: full copies where modelscope 1.12–1.22 (and ≤ 1.11 for dotted names) look. */
  modelscopeCopies?: boolean;
}

/** What the volume record of a model holds besides the objects: enough to list, verify and repair it. */
export interface VolumeManifest {
  source: string;
  id: string;
  revision: string;
  include: string[];
  exclude: string[];
  commit: string;
  layout: LayoutName;
  projects: string[];
  files: number;
  bytes: number;
  modelscopeCopies: boolean;
}

const dirKey = (prefix: string, stagingRoot: string, dir: string) => `${keyFor(prefix, relative(stagingRoot, dir))}/`;

const PHASE: Record<FileRole, number> = { listing: LISTING, marker: MARKER, record: RECORD };

/**
 * A complete model of the staging store as the objects a volume gets: every file as a regular object (S3 has no
 * symlinks; HF snapshot entries are uploaded with their blob's bytes), the layout's listing and markers, and this
 * tool's manifest, phase by phase. ModelScope's compat links are left to `download-models link`, or copied whole.
 */
export async function volumeModel(input: VolumeLayoutInput): Promise<VolumeModel> {
  const { complete, stagingRoot, prefix } = input;
  const { request: model, manifest, store, layout } = complete;
  const key = (path: string) => keyFor(prefix, relative(stagingRoot, path));
  const files: ModelFile[] = complete.files.map((f) => ({ localPath: f.disk, key: key(f.disk), size: f.size, phase: DATA, ...(f.sha256 ? { sha256: f.sha256 } : {}) }));
  for (const { path, role } of complete.layoutFiles) {
    const st = await lstat(path).catch(() => undefined);
    if (st && !st.isSymbolicLink()) files.push({ localPath: path, key: key(path), size: st.size, phase: PHASE[role] });
  }
  files.push({ localPath: complete.manifestFile, key: key(complete.manifestFile), size: (await lstat(complete.manifestFile)).size, phase: RECORD });

  const extraPrefixes: string[] = [];
  const copies = layout === "modelscope" && input.modelscopeCopies;
  if (layout === "modelscope") {
    extraPrefixes.push(dirKey(prefix, stagingRoot, store.manifestDir));
    if (copies) {
      const inModel = files.filter((f) => f.localPath.startsWith(store.modelDir + sep));
      for (const dir of modelscopeCopyDirs(store.root, model.id)) {
        extraPrefixes.push(dirKey(prefix, stagingRoot, dir));
        for (const f of inModel) files.push({ ...f, key: key(join(dir, relative(store.modelDir, f.localPath))) });
      }
    }
  }
  const volumeManifest: VolumeManifest = {
    source: model.source, id: model.id, revision: model.revision, include: model.include, exclude: model.exclude,
    commit: manifest.commit, layout, projects: model.projects,
    files: manifest.files.length, bytes: manifest.files.reduce((n, f) => n + f.size, 0), modelscopeCopies: Boolean(copies),
  };
  return {
    label: `${model.source}:${model.id}@${model.revision}`,
    files,
    recordKey: recordKeyFor(prefix, model),
    manifest: volumeManifest,
    listPrefix: dirKey(prefix, stagingRoot, store.modelDir),
    ...(extraPrefixes.length ? { extraPrefixes } : {}),
  };
}

/** The request a volume record was made for (verify, repair), or undefined for a record not written by this module. */
export function requestOfRecord(manifest: unknown): (ModelRequest & { commit: string }) | undefined {
  const m = manifest as Partial<VolumeManifest> | undefined;
  if (!m || typeof m.source !== "string" || typeof m.id !== "string" || typeof m.revision !== "string" || typeof m.commit !== "string") return undefined;
  return { source: m.source, id: m.id, revision: m.revision, include: m.include ?? [], exclude: m.exclude ?? [], projects: m.projects ?? [], commit: m.commit };
}
