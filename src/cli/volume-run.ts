import { rm } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import pLimit from "p-limit";
import { DEFAULT_CONNECTIONS } from "../util/index.ts";
import { UsageError } from "../errors.ts";
import { formatBytes } from "../util/index.ts";
import { layoutOf } from "../store/index.ts";
import { preflight } from "../download/index.ts";
import type { Redactor } from "../net/index.ts";
import type { Registry } from "../sources/index.ts";
import { consumerEnv, resolveRoots, type Env, type Roots } from "../store/index.ts";
import { runDownload, type Summary } from "../download/index.ts";
import { lockForDownload, recordAdded } from "./lockfile-use.ts";
import type { Lock } from "../lockfile/index.ts";
import { loadSelection, usesProjects } from "../select/index.ts";
import type { ModelRequest } from "../types.ts";
import { uploadStateDir } from "../remote/index.ts";
import type { UploadContext } from "../remote/index.ts";
import type { DownloadOptions } from "./download-command.ts";
import { createReporter, type Output } from "./reporter.ts";
import { createUploadReporter } from "./upload-reporter.ts";
import { completeOnVolume, createUploader, type ModelOnVolumes, type TargetTally } from "../remote/index.ts";
import { openTargets, type OpenTargets, type VolumeFlags } from "./volume-targets.ts";
import { readerLines, targetLine } from "./volume-summary.ts";

export interface VolumeRunOptions extends DownloadOptions, VolumeFlags {
  modelscopeCompat?: string;
  verbose?: boolean;
}

/** Where models wait between download and upload when no `--root` keeps them; removed after a fully successful run. */
export function stagingDir(env: Env): string {
  const cacheHome = env.XDG_CACHE_HOME || join(env.HOME || homedir(), ".cache");
  return join(cacheHome, "download-models", "staging");
}

function checkSelection(options: VolumeRunOptions): void {
  const byProject = usesProjects(options);
  if (!byProject && options.ids.length === 0) throw new UsageError("Nothing to upload: give model ids (org/name), --project NAME or --all.");
  if (byProject && options.ids.length === 0 && (options.revision || options.include || options.exclude || options.source)) {
    throw new UsageError("--source, --revision, --include and --exclude apply to model ids given on the command line; projects declare their own.");
  }
  if (options.modelscopeCompat !== undefined && options.modelscopeCompat !== "copy") {
    throw new UsageError(`--modelscope-compat takes "copy" (full copies where modelscope 1.12–1.22 look), not "${options.modelscopeCompat}".`);
  }
}

/** Models every usable target already holds complete: they are neither downloaded nor sent again. */
async function alreadyThere(models: ModelRequest[], contexts: UploadContext[], copies: boolean, force: boolean): Promise<Set<ModelRequest>> {
  const there = new Set<ModelRequest>();
  if (force) return there;
  const limit = pLimit(4);
  await Promise.all(
    models.map((m) =>
      limit(async () => {
        const on = await Promise.all(contexts.map((c) => completeOnVolume(c.conn, m, copies).catch(() => false)));
        if (on.every(Boolean)) there.add(m);
      }),
    ),
  );
  return there;
}

/**
 * `download-models … --volume …`: check every target, download each model once into the staging store, upload it
 * to every target in parallel, and print one line per target and which readers load each model.
 */
export async function volumeRun(options: VolumeRunOptions, io: Output, env: Env, redactor: Redactor): Promise<number> {
  checkSelection(options);
  const stagingRoot = resolve(options.root ?? stagingDir(env));
  const { registry, models, roots } = await loadSelection({ ...options, root: stagingRoot, env, requireModels: true, requireRoots: true });
  // The lock, and --frozen's refusal, come before any request: to the hub and to the volumes alike.
  const locked = await lockForDownload(options, models, env);
  await preflight(models, registry, roots, env, { write: !options.dryRun });
  const targets = await openTargets(options, env, redactor);
  try {
    let summary: Summary | undefined;
    const code = await fillTargets({
      models, registry, roots, stagingRoot, targets, options, io, env, redactor, ...(locked ? { lock: locked.lock } : {}), onSummary: (s) => (summary = s),
    });
    if (locked && !options.frozen && !options.dryRun && summary) {
      const added = await recordAdded(locked, summary, Boolean(options.lockfile));
      if (!options.json) for (const line of added) io.out(line);
    }
    return code;
  } finally {
    targets.close();
  }
}

export interface FillInput {
  models: ModelRequest[];
  registry: Registry;
  /** The staging store's roots (resolveRoots of `stagingRoot`). */
  roots: Roots;
  stagingRoot: string;
  targets: OpenTargets;
  options: VolumeRunOptions;
  io: Output;
  env: Env;
  redactor: Redactor;
  /** A lockfile to follow: locked models are fetched at their locked commit. */
  lock?: Lock;
  /** Receives the download summary (models new to the lock are written back from it). */
  onSummary?: (summary: Summary) => void;
}

/** Fill checked targets with `models` (also `verify --volume --repair`): what every target holds is neither fetched nor sent. */
export async function fillTargets(input: FillInput): Promise<number> {
  const { models, registry, roots, stagingRoot, targets, options, io, env, redactor } = input;
  const mode = options.json ? "json" : options.quiet ? "quiet" : "human";
  for (const f of targets.failures) io.err(`download-models: ${f.message} (this target is skipped; the others are filled)`);
  const uploads = createUploadReporter(io, mode, { verbose: Boolean(options.verbose) });
  const budget = pLimit(options.connections ?? DEFAULT_CONNECTIONS);
  const contexts: UploadContext[] = targets.usable.map((conn) => ({ conn, limit: budget, env: env as NodeJS.ProcessEnv, stateDir: uploadStateDir(env as NodeJS.ProcessEnv), onEvent: uploads.onEvent }));
  const copies = options.modelscopeCompat === "copy";
  const there = await alreadyThere(models, contexts, copies, Boolean(options.force));
  const todo = models.filter((m) => !there.has(m));
  if (mode === "human") {
    io.out(
      `download-models: ${models.length} model${models.length === 1 ? "" : "s"} → ${targets.usable.map((c) => c.target.label).join(", ")}` +
        `${options.dryRun ? " (dry run)" : ""}; staging in ${stagingRoot}${options.root ? "" : " (removed after success)"}`,
    );
    for (const m of there) io.out(`  on volume   ${m.source}:${m.id}@${m.revision}: complete on every target, nothing to download or send`);
  }
  const reporter = createReporter(io, mode); // main()'s io already redacts every line
  const uploader = createUploader({ contexts, registry, roots, stagingRoot, modelscopeCopies: copies });
  for (const t of uploader.tallies) t.skipped += there.size;
  const summary = await runDownload({
    models: todo, registry, roots, env, redactor,
    ...(options.token ? { token: options.token } : {}),
    force: Boolean(options.force), dryRun: Boolean(options.dryRun), skipSpaceCheck: options.spaceCheck === false,
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    transfer: { ...(options.connections ? { connections: options.connections } : {}), ...(options.maxRate ? { maxRate: options.maxRate } : {}) },
    ...(input.lock ? { lock: input.lock } : {}),
    onEvent: (e) => {
      reporter.onEvent(e);
      if (!options.dryRun && (e.type === "model-done" || e.type === "model-skip")) uploader.add(e.model);
    },
  });
  input.onSummary?.(summary);
  const kinds = new Set(models.map((m) => layoutOf(registry.get(m.source))));
  const onVolume = targets.usable.some((c) => c.target.kind === "runpod")
    ? consumerEnv(resolveRoots({ root: "/runpod-volume/models", env: {} }), { huggingface: kinds.has("huggingface"), modelscope: kinds.has("modelscope") })
    : { lines: [], vars: {} };
  // Nothing was to be downloaded: the download summary would only say "0 downloaded".
  if (todo.length > 0 || mode === "json") await reporter.finish(summary, mode === "human" ? { lines: [], vars: onVolume.vars } : onVolume);
  if (options.dryRun) return dryRunReport(summary, stagingRoot, targets.usable.length, io, mode);
  const placed = await uploader.done();
  const failed = summary.failed > 0 || targets.failures.length > 0 || uploader.tallies.some((t) => t.failed > 0);
  report({ io, mode, tallies: uploader.tallies, failures: targets.failures.map((f) => ({ target: f.target, message: f.message })), placed, there, onVolume: onVolume.lines, registry });
  if (!failed && !options.root) await rm(stagingRoot, { recursive: true, force: true });
  return failed ? 1 : 0;
}

function dryRunReport(summary: Summary, stagingRoot: string, targets: number, io: Output, mode: string): number {
  const toFetch = summary.models.reduce((n, m) => n + (m.status === "planned" ? m.downloadedBytes : 0), 0);
  const toSend = summary.models.reduce((n, m) => n + (m.status === "failed" ? 0 : m.bytes), 0);
  const line = `Disk needed on this machine: ${formatBytes(toFetch)} more in ${stagingRoot} (the models to upload, ${formatBytes(toSend)} in all); up to ${formatBytes(toSend)} to send to each of ${targets} target${targets === 1 ? "" : "s"}.`;
  if (mode === "json") io.out(JSON.stringify({ type: "volume-plan", stagingRoot, diskNeededBytes: toFetch, bytesPerTarget: toSend, targets }));
  else io.out(line);
  return summary.failed > 0 ? 1 : 0;
}

interface ReportInput {
  io: Output;
  mode: string;
  tallies: TargetTally[];
  failures: { target: string; message: string }[];
  placed: ModelOnVolumes[];
  there: Set<ModelRequest>;
  onVolume: string[];
  registry: Registry;
}

function report(r: ReportInput): void {
  const { io } = r;
  const readers = readerLines(r.placed, r.there, r.registry);
  if (r.mode === "json") {
    io.out(JSON.stringify({ type: "volume-summary", targets: [...r.tallies.map((t) => ({ ...t, ok: t.failed === 0 })), ...r.failures.map((f) => ({ target: f.target, ok: false, errors: [f.message] }))], readers: readers.json, time: new Date().toISOString() }));
    return;
  }
  io.out("Volumes:");
  for (const t of r.tallies) (t.failed ? io.err : io.out)(targetLine(t));
  for (const f of r.failures) io.err(`  FAILED      ${f.target}: not usable, nothing sent (${f.message.replace(/^--volume \S+: /, "")})`);
  if (r.mode !== "human") return;
  for (const line of readers.lines) io.out(line);
  if (r.onVolume.length) {
    io.out("Consumers load these models offline with:");
    for (const line of r.onVolume) io.out(`  ${line}`);
  }
}
