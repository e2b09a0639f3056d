import { resolve } from "node:path";
import { formatBytes } from "../format.ts";
import type { Redactor } from "../redact.ts";
import type { Env } from "../roots.ts";
import { loadSelection, usesProjects, type PluginDirs, type Selection } from "../selection.ts";
import type { ModelRequest } from "../types.ts";
import type { S3Connection } from "../s3/client.ts";
import { requestOfRecord } from "../s3/layout.ts";
import { listVolumeModels, verifyVolumeModel, type VolumeProblem } from "../s3/volume-read.ts";
import type { VolumeRecord } from "../s3/volume-record.ts";
import type { Output } from "./reporter.ts";
import { fillTargets, stagingDir, type VolumeRunOptions } from "./volume-run.ts";
import { openTargets, type VolumeFlags } from "./volume-targets.ts";

/** One model a volume holds, from its record (listing only, no bytes read). */
export interface VolumeEntry {
  request: ModelRequest;
  commit: string;
  files: number;
  bytes: number;
  writtenAt: string;
  record: VolumeRecord;
}

/** What a volume holds: every model recorded on it. The base of `list --volume`, and of `status --volume`. */
export async function volumeInventory(conn: S3Connection): Promise<VolumeEntry[]> {
  const entries: VolumeEntry[] = [];
  for (const { record } of await listVolumeModels(conn)) {
    const request = requestOfRecord(record.manifest);
    if (!request) continue;
    const m = record.manifest as { files?: number; bytes?: number };
    entries.push({ request, commit: request.commit, files: m.files ?? 0, bytes: m.bytes ?? 0, writtenAt: record.writtenAt, record });
  }
  return entries;
}

const label = (m: ModelRequest) => `${m.source}:${m.id}@${m.revision}`;
const sameRequest = (a: ModelRequest, b: ModelRequest) =>
  a.source === b.source && a.id === b.id && a.revision === b.revision && a.include.join("\0") === b.include.join("\0") && a.exclude.join("\0") === b.exclude.join("\0");

/** `list --volume`: per target, the models it holds grouped by the projects that declared them. */
export async function volumeListCommand(options: PluginDirs & VolumeFlags & { json?: boolean }, io: Output, env: Env, redactor: Redactor): Promise<number> {
  const targets = await openTargets(options, env, redactor);
  try {
    const all = await Promise.all(targets.usable.map(async (conn) => ({ target: conn.target.label, models: await volumeInventory(conn) })));
    if (options.json) {
      io.out(JSON.stringify({ targets: all.map((t) => ({ target: t.target, models: t.models.map(({ record: _r, ...e }) => ({ ...e.request, commit: e.commit, files: e.files, bytes: e.bytes, writtenAt: e.writtenAt })) })), unusable: targets.failures.map((f) => f.message) }, null, 2));
    } else {
      for (const f of targets.failures) io.err(`download-models: ${f.message}`);
      for (const t of all) {
        io.out(`${t.target}:`);
        const byProject = new Map<string, VolumeEntry[]>();
        for (const e of t.models) for (const p of e.request.projects.length ? e.request.projects : ["(command line)"]) byProject.set(p, [...(byProject.get(p) ?? []), e]);
        for (const [project, entries] of [...byProject].sort(([a], [b]) => a.localeCompare(b))) {
          io.out(`  ${project}`);
          for (const e of entries) io.out(`    ${label(e.request)} (${e.commit.slice(0, 10)})  ${e.files} file${e.files === 1 ? "" : "s"}, ${formatBytes(e.bytes)}`);
        }
        io.out(`  ${t.models.length} model${t.models.length === 1 ? "" : "s"}, ${formatBytes(t.models.reduce((n, e) => n + e.bytes, 0))}`);
      }
    }
    return targets.failures.length ? 1 : 0;
  } finally {
    targets.close();
  }
}

export interface VolumeVerifyOptions extends Selection, PluginDirs, VolumeFlags {
  root?: string;
  repair?: boolean;
  json?: boolean;
  token?: string;
}

/**
 * `verify --volume`: list each model's objects (no bytes read) and name every missing or wrong one; without ids,
 * every model recorded on the volume. `--repair` fetches the bad models into staging and sends only what is wrong.
 */
export async function volumeVerifyCommand(options: VolumeVerifyOptions, io: Output, env: Env, redactor: Redactor): Promise<number> {
  const stagingRoot = resolve(options.root ?? stagingDir(env));
  const selected = await loadSelection({ ...options, root: stagingRoot, env });
  const wanted = usesProjects(options) || options.ids.length ? selected.models : undefined;
  const targets = await openTargets(options, env, redactor);
  try {
    let bad = targets.failures.length > 0;
    const toRepair = new Map<string, ModelRequest>();
    const report: { target: string; model: string; ok: boolean; problems: VolumeProblem[] }[] = [];
    for (const conn of targets.usable) {
      const entries = await volumeInventory(conn);
      for (const w of wanted ?? []) {
        if (entries.some((e) => sameRequest(e.request, w))) continue;
        bad = true;
        report.push({ target: conn.target.label, model: label(w), ok: false, problems: [] });
        if (!options.json) io.err(`  not on volume  ${label(w)} on ${conn.target.label}`);
        toRepair.set(label(w), w);
      }
      for (const e of entries.filter((x) => !wanted || wanted.some((w) => sameRequest(w, x.request)))) {
        const problems = await verifyVolumeModel(conn, e.record);
        report.push({ target: conn.target.label, model: label(e.request), ok: problems.length === 0, problems });
        if (problems.length) {
          bad = true;
          toRepair.set(label(e.request), e.request);
        }
        if (options.json) continue;
        if (!problems.length) io.out(`  ok          ${label(e.request)} on ${conn.target.label}: ${Object.keys(e.record.objects).length} objects, sizes and ETags match`);
        else io.err([`  BAD         ${label(e.request)} on ${conn.target.label}: ${problems.length} object${problems.length === 1 ? "" : "s"}`, ...problems.map((p) => `      ${p.file}: ${p.detail}`)].join("\n"));
      }
    }
    if (options.json) io.out(JSON.stringify({ type: "verify-volume", ok: !bad, models: report, unusable: targets.failures.map((f) => f.message) }));
    else io.out(`Verified ${report.length} model cop${report.length === 1 ? "y" : "ies"} on ${targets.usable.length} volume${targets.usable.length === 1 ? "" : "s"}: ${report.filter((r) => r.ok).length} ok, ${report.filter((r) => !r.ok).length} bad.${bad && !options.repair ? " Run again with --repair to send only what is wrong." : ""}`);
    if (!options.repair || toRepair.size === 0) return bad ? 1 : 0;
    const runOptions: VolumeRunOptions = { ...options, ids: [] };
    return await fillTargets({ models: [...toRepair.values()], registry: selected.registry, roots: selected.roots, stagingRoot, targets, options: runOptions, io, env, redactor });
  } finally {
    targets.close();
  }
}
