import { join, resolve } from "node:path";
import { userCacheDir } from "../util/index.ts";
import { UsageError } from "../errors.ts";
import { formatBytes } from "../util/index.ts";
import { preflight } from "../download/index.ts";
import type { Redactor } from "../util/index.ts";
import type { Registry } from "../sources/index.ts";
import type { Env, Roots } from "../store/index.ts";
import type { Summary } from "../download/index.ts";
import { lockForDownload, recordAdded } from "./lockfile-use.ts";
import type { Lock } from "../lockfile/index.ts";
import { loadSelection, usesProjects } from "../select/index.ts";
import type { ModelRequest } from "../types.ts";
import type { DownloadOptions } from "./download-command.ts";
import { createReporter, type Output } from "./reporter.ts";
import { createUploadReporter } from "./upload-reporter.ts";
import { fillVolumes, type ModelOnVolumes, type TargetTally } from "../remote/index.ts";
import { interruptible } from "./interrupt.ts";
import { runOptions } from "./run-options.ts";
import type { CommandContext } from "./options.ts";
import { openTargets, type OpenTargets, type VolumeFlags } from "./volume-targets.ts";
import { readerLines, targetLine } from "./volume-summary.ts";

export interface VolumeRunOptions extends DownloadOptions, VolumeFlags {
  modelscopeCompat?: string;
  verbose?: boolean;
}

/** Where models wait between download and upload when no `--root` keeps them; removed after a fully successful run. */
export function stagingDir(env: Env): string {
  return join(userCacheDir(env), "download-models", "staging");
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

/**
 * `download-models … --volume …`: check every target, then fill them (fillVolumes: each model downloaded once into
 * the staging store and sent to every target), and print one line per target and which readers load each model.
 */
export async function volumeRun(options: VolumeRunOptions, { io, env, redactor }: CommandContext): Promise<number> {
  checkSelection(options);
  const stagingRoot = resolve(options.root ?? stagingDir(env));
  const { registry, projects, models, roots } = await loadSelection({ ...options, root: stagingRoot, env, requireModels: true, requireRoots: true });
  // The lock, and --frozen's refusal, come before any request: to the hub and to the volumes alike.
  const locked = await lockForDownload(options, models, env, { registry, projects });
  await preflight({ models, registry, roots, env, write: !options.dryRun });
  return interruptible(io, "stopping the fill; downloaded files and uploaded parts are kept, the same command resumes", async (interrupt) => {
    const targets = await openTargets(options, { env, redactor, signal: interrupt.signal, onWaiting: (line) => io.err(line) });
    try {
      let summary: Summary | undefined;
      const code = await fillTargets({
        models, registry, roots, stagingRoot, targets, options, io, env, redactor, signal: interrupt.signal,
        ...(locked ? { lock: locked.lock } : {}), onSummary: (s) => (summary = s),
      });
      if (locked && !options.frozen && !options.dryRun && summary) {
        const added = await recordAdded(locked, summary, Boolean(options.lockfile));
        if (!options.json) for (const line of added) io.out(line);
      }
      return code;
    } finally {
      targets.close();
    }
  });
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
  signal: AbortSignal;
  /** A lockfile to follow: locked models are fetched at their locked commit. */
  lock?: Lock;
  /** Receives the download summary (models new to the lock are written back from it). */
  onSummary?: (summary: Summary) => void;
}

/** Fill checked targets with `models` (also `verify --volume --repair`) and print what happened; returns the exit code. */
export async function fillTargets(input: FillInput): Promise<number> {
  const { models, registry, roots, stagingRoot, targets, options, io, env, redactor } = input;
  const mode = options.json ? "json" : options.quiet ? "quiet" : "human";
  for (const f of targets.failures) io.err(`download-models: ${f.message} (this target is skipped; the others are filled)`);
  const run = runOptions(options, env, input.signal);
  if (mode === "human") {
    io.out(
      `download-models: ${models.length} model${models.length === 1 ? "" : "s"} → ${targets.usable.map((c) => c.target.label).join(", ")}` +
        `${options.dryRun ? " (dry run)" : ""}; staging in ${stagingRoot}${options.root ? "" : " (removed after success)"}` +
        (run.maxRateText ? `; bandwidth capped at ${run.maxRateText}/s, downloads and uploads together` : ""),
    );
  }
  const reporter = createReporter(io, mode, run.maxRateText ? { maxRate: run.maxRateText } : {}); // main()'s io already redacts every line
  // Upload lines go where the download reporter writes: above its bars on a terminal.
  const uploads = createUploadReporter(reporter.output, mode, { verbose: Boolean(options.verbose) });
  const fill = await fillVolumes({
    models, targets: targets.usable, staging: { registry, roots, root: stagingRoot, keep: Boolean(options.root) }, env,
    signal: run.signal, ...(run.rate ? { rate: run.rate } : {}), ...(run.connections ? { connections: run.connections } : {}),
    modelscopeCopies: options.modelscopeCompat === "copy", ...(input.lock ? { lock: input.lock } : {}),
    download: {
      redactor, ...(options.token ? { token: options.token } : {}), force: Boolean(options.force), dryRun: Boolean(options.dryRun),
      skipSpaceCheck: options.spaceCheck === false, ...(run.concurrency ? { concurrency: run.concurrency } : {}), transfer: run.transfer,
    },
    onEvent: (e) => {
      if (e.type === "volume-present") {
        if (mode === "human") reporter.output.out(`  on volume   ${e.model.source}:${e.model.id}@${e.model.revision}: complete on every target, nothing to download or send`);
      } else if ("target" in e) uploads.onEvent(e);
      else reporter.onEvent(e);
    },
  });
  const { download: summary, consumers: onVolume } = fill;
  input.onSummary?.(summary);
  // Nothing was to be downloaded: the download summary would only say "0 downloaded".
  if (summary.models.length > 0 || mode === "json") await reporter.finish(summary, mode === "human" ? { lines: [], vars: onVolume.vars } : onVolume);
  if (options.dryRun) return dryRunReport(summary, stagingRoot, targets.usable.length, io, mode);
  report({ io, mode, tallies: fill.tallies, failures: targets.failures.map((f) => ({ target: f.target, message: f.message })), placed: fill.placed, there: new Set(fill.there), onVolume: fill.interrupted ? [] : onVolume.lines, registry });
  if (fill.interrupted && mode !== "json") io.err("Interrupted: run the same command again; finished files and uploaded parts are kept and the fill continues where it stopped.");
  return fill.failed || targets.failures.length > 0 ? 1 : 0;
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
