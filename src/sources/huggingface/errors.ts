import type { FailedResponse } from "../downloader.ts";
import { HubError } from "../../errors.ts";
import { header, isRetryableStatus, retryAfterMs } from "../../net/index.ts";
import { redactUrl } from "../../net/index.ts";

export interface HfErrorContext {
  repo: string;
  revision: string;
  path?: string;
  endpoint: string;
  hasToken: boolean;
}

function serverMessage(r: FailedResponse): string | undefined {
  const fromHeader = header(r.headers, "x-error-message");
  if (fromHeader) return fromHeader;
  try {
    const json = JSON.parse(r.body) as { error?: unknown };
    if (typeof json.error === "string") return json.error;
  } catch {
    // not JSON
  }
  const text = r.body.trim();
  return text && !text.startsWith("<") ? text.slice(0, 200) : undefined;
}

/** Turn a HuggingFace error answer into a message that says what happened and what to do. */
export function huggingfaceError(r: FailedResponse, ctx: HfErrorContext): HubError {
  const code = header(r.headers, "x-error-code");
  const said = serverMessage(r);
  const where = ctx.path ? `${ctx.path} of ${ctx.repo}@${ctx.revision}` : `${ctx.repo}@${ctx.revision}`;
  const info = { status: r.status, ...(code ? { code } : {}), url: redactUrl(r.url) };
  const tokenHint = "pass a HuggingFace token with read access (HF_TOKEN=… or --token)";

  if (code === "RevisionNotFound") {
    return new HubError(
      `Revision "${ctx.revision}" does not exist in ${ctx.repo} (hub says: ${said ?? "revision not found"}). ` +
        `Use an existing branch, tag or full commit hash with --revision or the model's "revision".`,
      info,
    );
  }
  if (code === "GatedRepo") {
    const url = `${ctx.endpoint}/${ctx.repo}`;
    return new HubError(
      ctx.hasToken
        ? `${ctx.repo} is gated and the token's account has not been granted access: accept the model's conditions at ${url} ` +
            `while logged in as the token's owner (some repos need a manual approval), then run again.`
        : `${ctx.repo} is gated: accept its conditions at ${url} with your HuggingFace account, then ${tokenHint}.`,
      info,
    );
  }
  if (r.status === 401 && said === "Invalid credentials in Authorization header" && ctx.hasToken) {
    return new HubError(`The HuggingFace token was rejected (invalid credentials) while fetching ${where}. Check HF_TOKEN or --token.`, info);
  }
  if (code === "RepoNotFound" || r.status === 401) {
    return new HubError(
      `${ctx.repo} was not found on HuggingFace, or it is private. Check the id` +
        (ctx.hasToken ? "; if it is private, the token in use has no access to it." : `; if it is private, ${tokenHint}.`) +
        ` If ${ctx.repo} is a ModelScope model, ask for ms:${ctx.repo} (or --source modelscope; in a project, source: "modelscope").`,
      info,
    );
  }
  if (code === "EntryNotFound") {
    return new HubError(`${ctx.path ?? "A file"} is listed but missing in ${ctx.repo}@${ctx.revision} (hub: ${said ?? "entry not found"}).`, info);
  }
  if (r.status === 429) {
    const wait = retryAfterMs(r.headers);
    return new HubError(
      // The wait is in `info` for the retry loop; the message outlives the retries, so it does not promise one.
      `HuggingFace rate limit hit while fetching ${where}` + (ctx.hasToken ? "." : `. Anonymous requests share a per-IP quota: ${tokenHint}.`),
      { ...info, retryable: true, ...(wait !== undefined ? { retryAfterMs: wait } : {}) },
    );
  }
  if (r.status === 403) {
    return new HubError(`HuggingFace refused ${where} (403 Forbidden${said ? `: ${said}` : ""}). Check the token's permissions.`, info);
  }
  if (header(r.headers, "x-error-message") === "Access to this resource is disabled.") {
    return new HubError(`${ctx.repo} has been disabled on HuggingFace.`, info);
  }
  return new HubError(
    `HuggingFace answered ${r.status} for ${where}${said ? `: ${said}` : ""} (${redactUrl(r.url)})`,
    { ...info, retryable: isRetryableStatus(r.status) },
  );
}
