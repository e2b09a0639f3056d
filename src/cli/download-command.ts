import { runDownload } from "../download/index.ts";
import { preflight } from "../download/index.ts";
import { cachesFor, consumerSetup } from "../download/index.ts";
import { UsageError } from "../errors.ts";
import type { ByteRate, CommandContext } from "./options.ts";
import { interruptible } from "./interrupt.ts";
import { runOptions } from "./run-options.ts";
import { loadSelection, usesProjects, type PluginDirs, type Selection } from "../select/index.ts";
import { createReporter } from "./reporter.ts";
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
  /** `--max-rate`: bytes per second for the whole run, all connections together (uploads too). */
  maxRate?: ByteRate;
}

export async function downloadCommand(options: DownloadOptions, { io, env, redactor }: CommandContext): Promise<number> {
  const byProject = usesProjects(options);
  if (!byProject && options.ids.length === 0) {
    throw new UsageError("Nothing to download: give model ids (org/name), --project NAME or --all. `download-models list` shows the projects.");
  }
  if (byProject && options.ids.length === 0 && (options.revision || options.include || options.exclude || options.source)) {
    throw new UsageError("--source, --revision, --include and --exclude apply to model ids given on the command line; projects declare their own.");
  }
  const { registry, projects, models, roots } = await loadSelection({ ...options, env, requireModels: true, requireRoots: true });
  const locked = await lockForDownload(options, models, env, { registry, projects });
  // Bad endpoint variables and roots that cannot be written fail here, before any request (exit 2).
  await preflight({ models, registry, roots, env, write: !options.dryRun });
  const mode = options.json ? "json" : options.quiet ? "quiet" : "human";
  // `io` comes from main(), which already hides the run's secrets in every line: the reporter need not again.
  const reporter = createReporter(io, mode, { ...(options.verbose ? { verbose: true } : {}), ...(options.maxRate ? { maxRate: options.maxRate.text } : {}) });
  if (mode === "human") {
    io.out(
      `download-models: ${models.length} model${models.length === 1 ? "" : "s"}` +
        (options.dryRun ? " (dry run)" : "") +
        cachesFor(models, registry, roots).map((c) => `; ${c.label} cache ${c.dir} (${c.why})`).join("") +
        (options.maxRate ? `; bandwidth capped at ${options.maxRate.text}/s` : ""),
    );
  }
  // Ctrl-C / SIGTERM (a Pod being stopped): range records are flushed and locks released before the summary.
  return interruptible(io, "stopping and keeping the partial files", async (interrupt) => {
    const run = runOptions(options, env, interrupt.signal);
    const summary = await runDownload({
      models, registry, roots, env, signal: run.signal, redactor,
      ...(options.token ? { token: options.token } : {}),
      force: Boolean(options.force),
      dryRun: Boolean(options.dryRun),
      skipSpaceCheck: options.spaceCheck === false,
      ...(run.concurrency ? { concurrency: run.concurrency } : {}),
      transfer: run.transfer, ...(run.rate ? { rate: run.rate } : {}),
      onEvent: reporter.onEvent,
      ...(locked ? { lock: locked.lock } : {}),
    });
    const consumers = await consumerSetup(summary, registry, roots);
    // A dry run or an interrupted run has not made the volume ready: no env block that says it is.
    const ready = !options.dryRun && !interrupt.by;
    // --quiet prints failures and the summary only: the env block is `download-models env`'s, on request.
    await reporter.finish(summary, ready && mode !== "quiet" ? consumers.env : { lines: [], vars: {} });
    if (locked) {
      const added = options.frozen || options.dryRun ? [] : await recordAdded(locked, summary, Boolean(options.lockfile));
      if (!options.json) for (const line of added) io.out(line);
      if (!options.json && ready && !options.quiet) pinsOfRun(locked, summary, io);
    }
    if (!options.json) for (const note of consumers.notes) io.err(`Note: ${note.message}`);
    if (interrupt.by && !options.json) io.err("Interrupted: run the same command again to resume; finished files are kept and big files continue where they stopped.");
    return summary.failed > 0 ? 1 : 0;
  });
}
