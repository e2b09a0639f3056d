import type { FailedResponse } from "../downloader.ts";
import { HubError } from "../../errors.ts";
import { isRetryableStatus, retryAfterMs } from "../../net/index.ts";
import { redactUrl } from "../../net/index.ts";

export interface MsErrorContext {
  repo: string;
  revision: string;
  path?: string;
  hasToken: boolean;
}

/** The `{Code, Data, Message, Success}` envelope every `/api/v1` answer is wrapped in (errors can hide inside an HTTP 200). */
export interface Envelope {
  Code?: unknown;
  Data?: unknown;
  Message?: unknown;
  Success?: unknown;
  RequestId?: unknown;
}

export function parseEnvelope(text: string): Envelope | undefined {
  try {
    const json = JSON.parse(text) as unknown;
    return json && typeof json === "object" && !Array.isArray(json) ? (json as Envelope) : undefined;
  } catch {
    return undefined;
  }
}

/** `Code == 200 and Success` (the library's `is_ok`); a missing Success counts as true. */
export function envelopeOk(e: Envelope): boolean {
  return Number(e.Code) === 200 && e.Success !== false;
}

function said(e: Envelope | undefined, fallback: string): string {
  const message = typeof e?.Message === "string" && e.Message.trim() ? e.Message.trim().slice(0, 300) : undefined;
  return message ?? fallback;
}

export const TOKEN_HINT = "set MODELSCOPE_API_TOKEN=<your ModelScope SDK token> (or pass --token)";

/** The hint for an id that may live on the other hub. */
export function otherHubHint(repo: string): string {
  return `If ${repo} is a HuggingFace model, ask for hf:${repo} (or --source huggingface; in a project, source: "huggingface").`;
}

function where(ctx: MsErrorContext): string {
  return ctx.path ? `${ctx.path} of ${ctx.repo}@${ctx.revision}` : `${ctx.repo}@${ctx.revision}`;
}

/** An envelope whose Code is not 200, even inside an HTTP 200 (the library raises on it too). */
export function envelopeError(e: Envelope, ctx: MsErrorContext, url: string, status = 200): HubError {
  const message = said(e, "no message");
  const info = { status, code: String(e.Code ?? ""), url: redactUrl(url) };
  if (/revision|branch|tag/i.test(message)) {
    return new HubError(
      `ModelScope has no revision "${ctx.revision}" for ${ctx.repo} (hub says: ${message}). ` +
        `Use an existing branch or tag with --revision or the model's "revision".`,
      info,
    );
  }
  if (/not exist|not found|authenticat|permission|private/i.test(message)) return notFound(ctx, info, message);
  return new HubError(`ModelScope refused ${where(ctx)}: ${message} (code ${String(e.Code)}).`, info);
}

function notFound(ctx: MsErrorContext, info: HubError["info"], message: string): HubError {
  return new HubError(
    `${ctx.repo} was not found on ModelScope, or it is private (hub says: ${message}). Check the id; ` +
      (ctx.hasToken ? "if it is private, the token in use has no access to it. " : `if it is private, ${TOKEN_HINT}. `) +
      otherHubHint(ctx.repo),
    info,
  );
}

/** Turn a failed ModelScope answer into a message that says what happened and what to do. */
export function modelscopeError(r: FailedResponse, ctx: MsErrorContext): HubError {
  const e = parseEnvelope(r.body);
  const message = said(e, r.body.trim().startsWith("<") ? `HTTP ${r.status}` : r.body.trim().slice(0, 200) || `HTTP ${r.status}`);
  const info = { status: r.status, ...(e?.Code !== undefined ? { code: String(e.Code) } : {}), url: redactUrl(r.url) };
  if (r.status === 404 && ctx.path && e && /file|path/i.test(message) && !/model/i.test(message)) {
    return new HubError(`${ctx.path} is listed but missing in ${ctx.repo}@${ctx.revision} (hub says: ${message}).`, info);
  }
  if (r.status === 404) return notFound(ctx, info, message);
  if (r.status === 401 || r.status === 403) {
    return new HubError(
      `ModelScope refused ${where(ctx)} (${r.status}: ${message}). ` +
        (ctx.hasToken ? "The token in MODELSCOPE_API_TOKEN / --token was rejected or has no access; check it." : `It needs a token: ${TOKEN_HINT}.`),
      info,
    );
  }
  if (r.status === 429) {
    const wait = retryAfterMs(r.headers);
    return new HubError(
      `ModelScope rate limit hit while fetching ${where(ctx)}.`,
      { ...info, retryable: true, ...(wait !== undefined ? { retryAfterMs: wait } : {}) },
    );
  }
  if (e && r.status === 200) return envelopeError(e, ctx, r.url);
  return new HubError(`ModelScope answered ${r.status} for ${where(ctx)}: ${message}.`, { ...info, retryable: isRetryableStatus(r.status) });
}
