import { consumerEnv } from "../store/index.ts";
import { runDownload } from "../download/index.ts";
import { discardProblems, modelsOnDisk, verifyModels, type VerifyResult } from "../store/index.ts";
import { formatBytes, formatSeconds } from "../util/index.ts";
import { loadSelection, usesProjects, type PluginDirs, type Selection } from "../select/index.ts";
import { createReporter } from "./reporter.ts";
import { interruptible } from "./interrupt.ts";
import { runOptions } from "./run-options.ts";
import type { CommandContext } from "./options.ts";

export interface VerifyOptions extends Selection, PluginDirs {
  root?: string;
  repair?: boolean;
  json?: boolean;
  token?: string;
}

function line(result: VerifyResult): string {
  const name = `${result.model.source}  ${result.model.id}@${result.model.revision}`;
  if (result.status === "not-downloaded") return `  not downloaded  ${name}: no manifest on this root (run download-models for it)`;
  if (result.status === "ok") return `  ok          ${name}: ${result.files} file${result.files === 1 ? "" : "s"}, ${formatBytes(result.bytes)} re-hashed, all match`;
  return [`  CORRUPT     ${name}: ${result.problems.length} of ${result.files} files bad`, ...result.problems.map((bad) => `      ${bad.path}: ${bad.problem}`)].join("\n");
}

/** `download-models verify`: re-hash what is on the root against the manifests; `--repair` re-downloads only what is bad. */
export async function verifyCommand(options: VerifyOptions, { io, env, redactor }: CommandContext): Promise<number> {
  const started = performance.now();
  const selected = await loadSelection({ ...options, env });
  const { registry, roots } = selected;
  // Without ids or projects: every model this tool downloaded under the root.
  const models = usesProjects(options) || options.ids.length ? selected.models : await modelsOnDisk(registry, roots);
  const results = await verifyModels({ models, registry, roots, onResult: (r) => {
    if (!options.json) (r.status === "corrupt" ? io.err : io.out)(line(r));
  } });
  const bad = results.filter((r) => r.status === "corrupt");
  const absent = results.filter((r) => r.status === "not-downloaded");
  let repairedOk = true;
  if (options.repair && bad.length > 0) {
    for (const r of bad) await discardProblems(r, registry, roots);
    if (!options.json) io.out(`Repairing ${bad.length} model${bad.length === 1 ? "" : "s"}: downloading only the bad files again…`);
    const reporter = createReporter(io, options.json ? "json" : "human");
    const code = await interruptible(io, "stopping the repair; files fetched so far are kept, verify --repair continues", async (interrupt) => {
      const run = runOptions({}, env, interrupt.signal);
      const summary = await runDownload({
        models: bad.map((r) => r.model), registry, roots, env, redactor, signal: run.signal, transfer: run.transfer,
        ...(options.token ? { token: options.token } : {}), onEvent: reporter.onEvent,
      });
      await reporter.finish(summary, interrupt.by ? { lines: [], vars: {} } : consumerEnv(roots));
      repairedOk = summary.failed === 0 && summary.interrupted === 0;
      return 0;
    });
    if (code !== 0) return code;
  }
  const seconds = (performance.now() - started) / 1000;
  if (options.json) {
    io.out((JSON.stringify({
      type: "verify",
      ok: (bad.length === 0 || (options.repair && repairedOk)) && absent.length === 0,
      models: results.map((r) => ({ source: r.model.source, id: r.model.id, revision: r.model.revision, commit: r.commit, status: r.status, files: r.files, bytes: r.bytes, problems: r.problems })),
      repaired: options.repair ? bad.length : 0,
      seconds,
    })));
  } else if (models.length === 0) {
    io.out("Nothing to verify: no model downloaded by this tool under this root (see --root).");
  } else {
    io.out(
      `Verified ${results.length} model${results.length === 1 ? "" : "s"} in ${formatSeconds(seconds)}: ` +
        `${results.length - bad.length - absent.length} ok, ${bad.length} corrupt${options.repair && bad.length ? (repairedOk ? " (repaired)" : " (repair failed)") : ""}, ${absent.length} not downloaded.` +
        (bad.length && !options.repair ? " Run again with --repair to download only the bad files." : ""),
    );
  }
  return (bad.length === 0 || (options.repair && repairedOk)) && absent.length === 0 ? 0 : 1;
}
