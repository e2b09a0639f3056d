import type { Env } from "../store/index.ts";
import { runDownload } from "../download/index.ts";
import { preflight } from "../download/index.ts";
import { formatBytes } from "../util/index.ts";
import { cachesFor, consumerSetup } from "../download/index.ts";
import { DownloadModelsError, UsageError } from "../errors.ts";
import { loadSelection, usesProjects, type PluginDirs, type Selection } from "../select/index.ts";
import { createReporter, type Output } from "./reporter.ts";
import { createRedactor, type Redactor } from "../net/index.ts";
import { lockForDownload, pinsOfRun, recordAdded, type LockfileOptions } from "./lockfile-use.ts";

export interface DownloadOptions extends Selection, PluginDirs, LockfileOptions {
  root?: string;
  token?: string;
  force?: boolean;
  dryRun?: boolean;
  concurrency?: number;
  connections?: number;
  json?: boolean;
  quiet?: boolean;
  spaceCheck?: boolean;
  verbose?: boolean;
  /** Refuse a selection the lockfile does not pin as declared; never write the lock. */
  frozen?: boolean;
  /** `--max-rate`: bytes per second for the whole run, all connections together. */
  maxRate?: number;
}

/** Undocumented knobs for benchmarks and experiments. */
function tuning(env: Env) {
  return {
    ...(env.DOWNLOAD_MODELS_CHUNK_MB ? { chunkSize: Number(env.DOWNLOAD_MODELS_CHUNK_MB) * 1024 * 1024 } : {}),
    ...(env.DOWNLOAD_MODELS_CHECKPOINT_MS ? { checkpointMs: Number(env.DOWNLOAD_MODELS_CHECKPOINT_MS) } : {}),
    ...(env.DOWNLOAD_MODELS_WRITE_BUDGET_MB ? { writeBudget: Number(env.DOWNLOAD_MODELS_WRITE_BUDGET_MB) * 1024 * 1024 } : {}),
    ...(env.DOWNLOAD_MODELS_LOCK_STALE_MS
      ? { lease: { staleMs: Number(env.DOWNLOAD_MODELS_LOCK_STALE_MS), heartbeatMs: Number(env.DOWNLOAD_MODELS_LOCK_STALE_MS) / 5, pollMs: 100 } }
      : {}),
  };
}

export async function downloadCommand(options: DownloadOptions, io: Output, env: Env, redactor: Redactor = createRedactor()): Promise<number> {
  const byProject = usesProjects(options);
  if (!byProject && options.ids.length === 0) {
    throw new UsageError("Nothing to download: give model ids (org/name), --project NAME or --all. `download-models list` shows the projects.");
  }
  if (byProject && options.ids.length === 0 && (options.revision || options.include || options.exclude || options.source)) {
    throw new UsageError("--source, --revision, --include and --exclude apply to model ids given on the command line; projects declare their own.");
  }
  const { registry, models, roots } = await loadSelection({ ...options, env, requireModels: true, requireRoots: true });
  const locked = await lockForDownload(options, models, env);
  // Bad endpoint variables and roots that cannot be written fail here, before any request (exit 2).
  await preflight(models, registry, roots, env, { write: !options.dryRun });
  const mode = options.json ? "json" : options.quiet ? "quiet" : "human";
  // `io` comes from main(), which already hides the run's secrets in every line: the reporter need not again.
  const reporter = createReporter(io, mode, { ...(options.verbose ? { verbose: true } : {}), ...(options.maxRate ? { maxRate: options.maxRate } : {}) });
  if (mode === "human") {
    io.out(
      `download-models: ${models.length} model${models.length === 1 ? "" : "s"}` +
        (options.dryRun ? " (dry run)" : "") +
        cachesFor(models, registry, roots).map((c) => `; ${c.label} cache ${c.dir} (${c.why})`).join("") +
        (options.maxRate ? `; bandwidth capped at ${formatBytes(options.maxRate)}/s` : ""),
    );
  }
  // Ctrl-C / SIGTERM (a Pod being stopped): stop cleanly so that range records are flushed and locks released;
  // a second signal leaves at once.
  const interrupt = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupt.signal.aborted) process.exit(130);
    reporter.notice(`Interrupted (${signal}): stopping and keeping the partial files; press again to quit at once.`);
    interrupt.abort(new DownloadModelsError("interrupted; the bytes written so far are kept, run the same command again to resume"));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const summary = await runDownload({
    models, registry, roots, env, signal: interrupt.signal, redactor,
    ...(options.token ? { token: options.token } : {}),
    force: Boolean(options.force),
    dryRun: Boolean(options.dryRun),
    skipSpaceCheck: options.spaceCheck === false,
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    transfer: { ...(options.connections ? { connections: options.connections } : {}), ...(options.maxRate ? { maxRate: options.maxRate } : {}), ...tuning(env) },
    onEvent: reporter.onEvent,
    ...(locked ? { lock: locked.lock } : {}),
  });
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  const consumers = await consumerSetup(summary, registry, roots);
  // A dry run or an interrupted run has not made the volume ready: no env block that says it is.
  const ready = !options.dryRun && !interrupt.signal.aborted;
  await reporter.finish(summary, ready ? consumers.env : { lines: [], vars: {} });
  if (locked) {
    const added = options.frozen || options.dryRun ? [] : await recordAdded(locked, summary, Boolean(options.lockfile));
    if (!options.json) for (const line of added) io.out(line);
    if (!options.json && ready) pinsOfRun(locked, summary, io);
  }
  if (!options.json) for (const note of consumers.notes) io.err(`Note: ${note.message}`);
  if (interrupt.signal.aborted) {
    if (!options.json) io.err("Interrupted: run the same command again to resume; finished files are kept and big files continue where they stopped.");
    return 130;
  }
  return summary.failed > 0 ? 1 : 0;
}
