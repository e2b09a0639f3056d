import type { Env } from "../roots.ts";
import { consumerEnv, resolveRoots } from "../roots.ts";
import { loadProjects } from "../project.ts";
import { loadRegistry } from "../registry.ts";
import { runDownload } from "../run-download.ts";
import { discardProblems, modelsOnDisk, verifyModels, type VerifyResult } from "../verify-models.ts";
import { redact } from "../redact.ts";
import { formatBytes, formatSeconds } from "../format.ts";
import { downloaderDirs, projectDirs, type DirOptions } from "./context.ts";
import { createReporter, type Output } from "./reporter.ts";
import { selectModels, splitNames, type Selection } from "./select.ts";

export interface VerifyOptions extends Selection, DirOptions {
  root?: string;
  repair?: boolean;
  json?: boolean;
  token?: string;
}

function line(r: VerifyResult): string {
  const name = `${r.model.source}  ${r.model.id}@${r.model.revision}`;
  if (r.status === "not-downloaded") return `  not downloaded  ${name}: no manifest on this root (run download-models for it)`;
  if (r.status === "ok") return `  ok          ${name}: ${r.files} file${r.files === 1 ? "" : "s"}, ${formatBytes(r.bytes)} re-hashed, all match`;
  return [`  CORRUPT     ${name}: ${r.problems.length} of ${r.files} files bad`, ...r.problems.map((p) => `      ${p.path}: ${p.problem}`)].join("\n");
}

/** `download-models verify`: re-hash what is on the root against the manifests; `--repair` re-downloads only what is bad. */
export async function verifyCommand(o: VerifyOptions, io: Output, env: Env): Promise<number> {
  const started = performance.now();
  const registry = await loadRegistry(downloaderDirs(o, env));
  const roots = resolveRoots({ ...(o.root ? { root: o.root } : {}), env });
  const usesProjects = Boolean(o.all || splitNames(o.project).length);
  const models = usesProjects || o.ids.length
    ? selectModels(o, usesProjects ? await loadProjects(projectDirs(o, env), registry.names()) : undefined, registry)
    : await modelsOnDisk(registry, roots);
  const results = await verifyModels(models, registry, roots, (r) => {
    if (!o.json) (r.status === "corrupt" ? io.err : io.out)(redact(line(r)));
  });
  const bad = results.filter((r) => r.status === "corrupt");
  const absent = results.filter((r) => r.status === "not-downloaded");
  let repairedOk = true;
  if (o.repair && bad.length > 0) {
    for (const r of bad) await discardProblems(r, registry, roots);
    if (!o.json) io.out(`Repairing ${bad.length} model${bad.length === 1 ? "" : "s"}: downloading only the bad files again…`);
    const reporter = createReporter(io, o.json ? "json" : "human");
    const summary = await runDownload({
      models: bad.map((r) => r.model), registry, roots, env, ...(o.token ? { token: o.token } : {}), onEvent: reporter.onEvent,
    });
    await reporter.finish(summary, consumerEnv(roots));
    repairedOk = summary.failed === 0;
  }
  const seconds = (performance.now() - started) / 1000;
  if (o.json) {
    io.out(redact(JSON.stringify({
      type: "verify",
      ok: (bad.length === 0 || (o.repair && repairedOk)) && absent.length === 0,
      models: results.map((r) => ({ source: r.model.source, id: r.model.id, revision: r.model.revision, commit: r.commit, status: r.status, files: r.files, bytes: r.bytes, problems: r.problems })),
      repaired: o.repair ? bad.length : 0,
      seconds,
    })));
  } else if (models.length === 0) {
    io.out("Nothing to verify: no model downloaded by this tool under this root (see --root).");
  } else {
    io.out(
      `Verified ${results.length} model${results.length === 1 ? "" : "s"} in ${formatSeconds(seconds)}: ` +
        `${results.length - bad.length - absent.length} ok, ${bad.length} corrupt${o.repair && bad.length ? (repairedOk ? " (repaired)" : " (repair failed)") : ""}, ${absent.length} not downloaded.` +
        (bad.length && !o.repair ? " Run again with --repair to download only the bad files." : ""),
    );
  }
  return (bad.length === 0 || (o.repair && repairedOk)) && absent.length === 0 ? 0 : 1;
}
