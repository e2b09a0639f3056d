import { formatBytes } from "../util/index.ts";
import type { Redactor } from "../util/index.ts";
import type { Env, Roots } from "../store/index.ts";
import type { Registry } from "../sources/index.ts";
import { repairVolumes, type BadCopy, type RepairEvent } from "../remote/index.ts";
import type { Output } from "./reporter.ts";
import { createUploadReporter } from "./upload-reporter.ts";
import { runOptions } from "./run-options.ts";
import type { VolumeRunOptions } from "./volume-run.ts";

export interface RepairInput {
  copies: BadCopy[];
  registry: Registry;
  roots: Roots;
  stagingRoot: string;
  options: VolumeRunOptions;
  io: Output;
  env: Env;
  redactor: Redactor;
  signal: AbortSignal;
}

const list = (paths: string[]) => (paths.length <= 3 ? paths.join(", ") : `${paths.slice(0, 3).join(", ")} and ${paths.length - 3} more`);

function sourceLine(e: Extract<RepairEvent, { type: "repair-source" }>): string {
  const at = `  fetched     ${e.model} (${e.commit.slice(0, 12)}):`;
  if (e.fromStore.length) return `${at} ${list(e.fromStore)} from the local store (hashed again first)`;
  if (e.whole) return `${at} the whole model (its markers are made from the whole listing); ${e.fromHub.length} file${e.fromHub.length === 1 ? "" : "s"} downloaded`;
  if (e.fromHub.length === 0) return `${at} nothing to download (the files were in the local store)`;
  return `${at} ${list(e.fromHub)} from the hub, ${e.fromHub.length === 1 ? "that file" : "those files"} alone`;
}

/**
 * `verify --volume --repair` for models the volume records: fetch only the files behind the bad objects (local
 * store first, else the hub) and send only those objects. Prints one line per model and target; returns the exit code.
 */
export async function repairCopies(input: RepairInput): Promise<number> {
  const { copies, io, options, env } = input;
  const mode = options.json ? "json" : options.quiet ? "quiet" : "human";
  const run = runOptions(options, env, input.signal);
  const uploads = createUploadReporter(io, mode, { verbose: Boolean(options.verbose) });
  const objects = copies.reduce((n, c) => n + c.keys.length, 0);
  if (mode === "human") {
    io.out(`Repairing ${copies.length} model cop${copies.length === 1 ? "y" : "ies"}: ${objects} object${objects === 1 ? "" : "s"} to send again; staging in ${input.stagingRoot}`);
  }
  const summary = await repairVolumes({
    copies, env, signal: run.signal, staging: { registry: input.registry, roots: input.roots, root: input.stagingRoot, keep: Boolean(options.root) },
    ...(run.rate ? { rate: run.rate } : {}), ...(run.connections ? { connections: run.connections } : {}),
    download: {
      redactor: input.redactor, ...(options.token ? { token: options.token } : {}), skipSpaceCheck: options.spaceCheck === false,
      ...(run.concurrency ? { concurrency: run.concurrency } : {}), transfer: run.transfer,
    },
    onEvent: (e) => {
      if (e.type === "repair-source") {
        if (mode === "human") io.out(sourceLine(e));
      } else if (e.type === "repair-done") {
        if (mode === "human") io.out(`  repaired    ${e.model} on ${e.target}: ${e.objects} object${e.objects === 1 ? "" : "s"} sent (${formatBytes(e.bytesSent)})${e.recordRewritten ? "; record updated" : ""}`);
      } else if (e.type === "repair-failed") {
        io.err(`  FAILED      ${e.model} on ${e.target}: ${e.error}`);
      } else if ("target" in e) uploads.onEvent(e);
    },
  });
  const ok = summary.outcomes.filter((r) => r.ok).length;
  if (mode === "json") {
    io.out(JSON.stringify({ type: "volume-repair", ok: !summary.failed && !summary.interrupted, copies: summary.outcomes, filesDownloaded: summary.fetched, filesFromStore: summary.fromStore }));
  } else {
    io.out(
      `Repaired ${ok} of ${copies.length} model cop${copies.length === 1 ? "y" : "ies"}: ${summary.fetched} file${summary.fetched === 1 ? "" : "s"} downloaded, ` +
        `${summary.fromStore} from the local store, ${formatBytes(summary.outcomes.reduce((n, r) => n + r.bytesSent, 0))} sent.`,
    );
    if (summary.interrupted) io.err("Interrupted: run the same command again; objects sent are kept and the repair continues.");
  }
  return summary.failed ? 1 : 0;
}
