import { resolve } from "node:path";
import { formatBytes, selectionKey } from "../util/index.ts";
import { loadSelection, usesProjects, type PluginDirs, type Selection } from "../select/index.ts";
import type { ModelRequest } from "../types.ts";
import type { S3Connection } from "../remote/index.ts";
import { requestOfRecord } from "../remote/index.ts";
import { listVolumeModels, verifyVolumeModel, type VolumeProblem } from "../remote/index.ts";
import type { BadCopy, VolumeRecord } from "../remote/index.ts";
import { volumeSelection, volumeStatusLines, type VolumeCommandOptions } from "./status-command.ts";
import { findEntry } from "../lockfile/index.ts";
import { pruneUploads, uploadStateDir } from "../remote/index.ts";
import { listUploads } from "../remote/index.ts";
import { fillTargets, stagingDir, type VolumeRunOptions } from "./volume-run.ts";
import { openTargets, type VolumeFlags } from "./volume-targets.ts";
import { interruptible } from "./interrupt.ts";
import type { CommandContext } from "./options.ts";
import { repairCopies } from "./volume-repair.ts";

/** One model a volume holds, from its record (listing only, no bytes read). */
export interface VolumeEntry {
  request: ModelRequest;
  /** The record's key on the volume. */
  key: string;
  commit: string;
  files: number;
  bytes: number;
  writtenAt: string;
  record: VolumeRecord;
}

/** What a volume holds: every model recorded on it. The base of `list --volume`, and of `status --volume`. */
export async function volumeInventory(conn: S3Connection): Promise<VolumeEntry[]> {
  const entries: VolumeEntry[] = [];
  for (const { key, record } of await listVolumeModels(conn)) {
    const request = requestOfRecord(record.manifest);
    if (!request) continue;
    const m = record.manifest as { files?: number; bytes?: number };
    entries.push({ request, key, commit: request.commit, files: m.files ?? 0, bytes: m.bytes ?? 0, writtenAt: record.writtenAt, record });
  }
  return entries;
}

const filters = (m: ModelRequest) => [...(m.include.length ? [`include ${m.include.join(" ")}`] : []), ...(m.exclude.length ? [`exclude ${m.exclude.join(" ")}`] : [])].join("; ");
const label = (m: ModelRequest) => `${m.source}:${m.id}@${m.revision}${filters(m) ? ` [${filters(m)}]` : ""}`;
/** A volume record holds a request when it names the same selection (a volume has no local folders). */
export const sameRequest = (a: ModelRequest, b: ModelRequest) => selectionKey(a) === selectionKey(b);

/** `list --volume`: per target, the models it holds grouped by the projects that declared them. */
export async function volumeListCommand(options: PluginDirs & VolumeFlags & { json?: boolean }, { io, env, redactor }: CommandContext): Promise<number> {
  const targets = await openTargets(options, { env, redactor });
  try {
    const all = await Promise.all(targets.usable.map(async (conn) => ({ target: conn.target.label, models: await volumeInventory(conn) })));
    if (options.json) {
      io.out(JSON.stringify({ targets: all.map((t) => ({ target: t.target, models: t.models.map(({ record: _r, key: _k, ...e }) => ({ ...e.request, commit: e.commit, files: e.files, bytes: e.bytes, writtenAt: e.writtenAt })) })), unusable: targets.failures.map((f) => f.message) }, null, 2));
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
 * every model recorded on the volume. `--repair` fetches only the files behind the bad objects (the local store's
 * when intact, else those files alone from the hub) and sends only those objects; a model the volume lacks is filled.
 */
export async function volumeVerifyCommand(options: VolumeVerifyOptions, { io, env, redactor }: CommandContext): Promise<number> {
  const stagingRoot = resolve(options.root ?? stagingDir(env));
  const selected = await loadSelection({ ...options, root: stagingRoot, env });
  const wanted = usesProjects(options) || options.ids.length ? selected.models : undefined;
  // Checking is only reads; a repair then fetches and sends. One interrupt path for both: the line, the exit code.
  const stopping = options.repair ? "stopping the check and repair; what was sent is kept, the same command continues" : "stopping the check; nothing on the volume was changed";
  return interruptible(io, stopping, async ({ signal }) => {
    // Every listing and record read below watches the signal through its connection.
    const targets = await openTargets(options, { env, redactor, signal, onWaiting: (line) => io.err(line) });
    try {
      let bad = targets.failures.length > 0;
      const toFill = new Map<string, ModelRequest>();
      const copies: BadCopy[] = [];
      const report: { target: string; model: string; ok: boolean; problems: VolumeProblem[] }[] = [];
      for (const conn of targets.usable) {
        signal.throwIfAborted();
        const entries = await volumeInventory(conn);
        // Models declared with other filters share objects (config.json): each object is named once per volume.
        const named = new Set<string>();
        for (const w of wanted ?? []) {
          if (entries.some((e) => sameRequest(e.request, w))) continue;
          bad = true;
          report.push({ target: conn.target.label, model: label(w), ok: false, problems: [] });
          if (!options.json) io.err(`  not on volume  ${label(w)} on ${conn.target.label}`);
          toFill.set(label(w), w);
        }
        for (const e of entries.filter((x) => !wanted || wanted.some((w) => sameRequest(w, x.request)))) {
          signal.throwIfAborted();
          const problems = await verifyVolumeModel(conn, e.record);
          report.push({ target: conn.target.label, model: label(e.request), ok: problems.length === 0, problems });
          if (problems.length) {
            bad = true;
            copies.push({ conn, recordKey: e.key, record: e.record, keys: problems.map((p) => p.key) });
          }
          if (options.json) continue;
          if (!problems.length) io.out(`  ok          ${label(e.request)} on ${conn.target.label}: ${Object.keys(e.record.objects).length} objects, sizes and ETags match`);
          else {
            const fresh = problems.filter((p) => !named.has(p.key));
            const above = problems.length - fresh.length;
            for (const p of fresh) named.add(p.key);
            io.err([
              `  BAD         ${label(e.request)} on ${conn.target.label}: ${problems.length} object${problems.length === 1 ? "" : "s"}${above ? ` (${above} shared with a model above)` : ""}`,
              ...fresh.map((p) => `      ${p.detail}`),
            ].join("\n"));
          }
        }
      }
      if (options.json) io.out(JSON.stringify({ type: "verify-volume", ok: !bad, models: report, unusable: targets.failures.map((f) => f.message) }));
      else io.out(`Verified ${report.length} model cop${report.length === 1 ? "y" : "ies"} on ${targets.usable.length} volume${targets.usable.length === 1 ? "" : "s"}: ${report.filter((r) => r.ok).length} ok, ${report.filter((r) => !r.ok).length} bad.${bad && !options.repair ? " Run again with --repair to send only what is wrong." : ""}`);
      if (!options.repair || (toFill.size === 0 && copies.length === 0)) return bad ? 1 : 0;
      const runOptions: VolumeRunOptions = { ...options, ids: [] };
      const { registry, roots } = selected;
      const repaired = copies.length ? await repairCopies({ copies, registry, roots, stagingRoot, options: runOptions, io, env, redactor, signal }) : 0;
      if (toFill.size === 0 || signal.aborted) return repaired;
      return Math.max(repaired, await fillTargets({ models: [...toFill.values()], registry, roots, stagingRoot, targets, options: runOptions, io, env, redactor, signal }));
    } finally {
      targets.close();
    }
  });
}

type VolumeState = "complete" | "other-commit" | "missing";

/**
 * `status --volume`: per target, each selected model as the volume holds it (complete, at another commit than the
 * lock pins, missing), whether the lock pins it, and what the volume holds that nothing selected declares. Listing
 * and records only: no object is read.
 */
export async function volumeStatusCommand(options: VolumeCommandOptions & VolumeFlags, { io, env, redactor }: CommandContext): Promise<number> {
  const { selection, lock } = await volumeSelection(options, env);
  const targets = await openTargets(options, { env, redactor });
  try {
    const rows = await Promise.all(
      targets.usable.map(async (conn) => {
        const held = await volumeInventory(conn);
        const models = selection.map((m) => {
          const entry = findEntry(lock, m);
          const found = held.find((e) => sameRequest(e.request, m));
          const state: VolumeState = !found ? "missing" : entry && entry.commit !== found.commit ? "other-commit" : "complete";
          return { model: m, state, locked: Boolean(entry), ...(found ? { commit: found.commit, bytes: found.bytes } : {}), ...(entry ? { lockedCommit: entry.commit } : {}) };
        });
        const undeclared = held.filter((e) => !selection.some((m) => sameRequest(e.request, m)));
        return { target: conn.target.label, models, undeclared: undeclared.map((e) => ({ model: label(e.request), commit: e.commit, bytes: e.bytes })) };
      }),
    );
    if (options.json) {
      io.out(JSON.stringify({ targets: rows.map((r) => ({ ...r, models: r.models.map(({ model, ...rest }) => ({ source: model.source, id: model.id, revision: model.revision, ...rest })) })), unusable: targets.failures.map((f) => f.message) }, null, 2));
      return targets.failures.length ? 1 : 0;
    }
    for (const f of targets.failures) io.err(`download-models: ${f.message}`);
    for (const r of rows) for (const line of volumeStatusLines(r.target, r.models.map((m) => ({ ...m, label: label(m.model) })), r.undeclared)) io.out(line);
    return targets.failures.length ? 1 : 0;
  } finally {
    targets.close();
  }
}

/**
 * `prune --volume`: multipart uploads left on the volume by killed runs (older than `--older-than`; younger ones
 * may belong to a run still going) hold space until aborted. Without `--yes` they are only listed.
 */
export async function volumePruneCommand(options: VolumePruneOptions, cli: CommandContext): Promise<number> {
  return interruptible(cli.io, "stopping the prune; uploads already aborted stay aborted, the rest are kept", (interrupt) => volumePrune(options, cli, interrupt.signal));
}

type VolumePruneOptions = VolumeFlags & { yes?: boolean; olderThan?: number; json?: boolean };

async function volumePrune(options: VolumePruneOptions, { io, env, redactor }: CommandContext, signal: AbortSignal): Promise<number> {
  const targets = await openTargets(options, { env, redactor, signal, onWaiting: (line) => io.err(line) });
  const olderThanMs = options.olderThan ?? 86_400_000;
  try {
    for (const f of targets.failures) io.err(`download-models: ${f.message}`);
    const rows = await Promise.all(
      targets.usable.map(async (conn) => {
        if (options.yes) return { target: conn.target.label, keys: await pruneUploads(conn, { stateDir: uploadStateDir(env as NodeJS.ProcessEnv), olderThanMs }) };
        const cutoff = Date.now() - olderThanMs;
        const pending = await listUploads(conn);
        return { target: conn.target.label, keys: pending.filter((u) => !u.initiated || u.initiated.getTime() < cutoff).map((u) => u.key) };
      }),
    );
    if (options.json) io.out(JSON.stringify({ applied: Boolean(options.yes), targets: rows }, null, 2));
    else {
      for (const r of rows) {
        for (const key of r.keys) io.out(`  ${options.yes ? "aborted" : "would abort"}  ${r.target}: unfinished upload of ${key}`);
        io.out(`${r.target}: ${r.keys.length} unfinished upload${r.keys.length === 1 ? "" : "s"} ${options.yes ? "aborted" : "to abort"}`);
      }
      if (!options.yes && rows.some((r) => r.keys.length)) io.out("Run again with --yes to abort them.");
    }
    return targets.failures.length ? 1 : 0;
  } finally {
    targets.close();
  }
}
