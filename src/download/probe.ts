import { HubError } from "../errors.ts";
import { failedResponse, httpRequest } from "../net/index.ts";
import { redactUrl } from "../net/index.ts";
import type { FetchPlan, RunContext } from "./context.ts";

/**
 * A dry run asks for the first byte of one file it would download, with the token it would use: a listing is public
 * for gated and some private repos, so only a file request shows "needs a token" or "no access" before the real run.
 */
export async function probeAccess(plan: FetchPlan, run: RunContext, signal: AbortSignal): Promise<void> {
  const file = plan.files.find((f) => !plan.reused.has(f));
  if (!file || file.size === 0) return;
  const res = await httpRequest(file.url, {
    headers: { ...file.headers, range: "bytes=0-0", "accept-encoding": "identity" },
    dispatcher: run.transfer.dispatcher,
    signal,
  });
  if (res.status === 200 || res.status === 206) {
    // Only the status was wanted: drop the body (a server ignoring Range would send the whole file).
    res.body.on("error", () => {});
    res.body.destroy();
    return;
  }
  const failed = await failedResponse(res);
  const label = `${plan.model.id}@${plan.model.revision}`;
  throw (
    plan.downloader.describeError?.(failed, plan.model, { path: file.path, env: run.env, hasToken: Boolean(plan.token) }) ??
    new HubError(`${label}: the hub refused ${file.path} (HTTP ${failed.status}, ${redactUrl(failed.url)}).`, { status: failed.status, url: redactUrl(failed.url) })
  );
}
