import type { IncomingMessage, ServerResponse } from "node:http";
import { repoKey, type HubContext } from "../context.ts";
import { MS_CODES, sendEnvelopeError } from "./reply.ts";
import type { HubRepo } from "../repo.ts";

function cookieToken(header: string | undefined): string | undefined {
  for (const pair of header?.split(";") ?? []) {
    const [name, ...value] = pair.split("=");
    if (name?.trim() === "m_session_id") return value.join("=").trim();
  }
  return undefined;
}

/** The legacy client sends `Cookie: m_session_id=<token>`, the new hub that and `Authorization: Bearer <token>`. */
function hasValidToken(req: IncomingMessage, ctx: HubContext): boolean {
  const bearer = req.headers.authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  const cookie = cookieToken(req.headers.cookie);
  return [bearer, cookie].some((token) => token !== undefined && ctx.tokens.has(token));
}

/**
 * Returns the model, or answers a 404 envelope itself and returns undefined. Rules:
 * - a missing model is 404 "The request model: {id} does not exist!", with or without a token;
 * - a private (or gated: ModelScope has no gating) model without a valid token is 404 "Authentication token does
 *   not exist, failed to get model {id}". A token that is present but not accepted counts as no token: ModelScope
 *   answers private models with 404 either way, never 401/403.
 */
export function authorizeModel(req: IncomingMessage, res: ServerResponse, ctx: HubContext, repoId: string): HubRepo | undefined {
  const repo = ctx.repos.get(repoKey("modelscope", repoId));
  if (!repo) {
    sendEnvelopeError(res, 404, MS_CODES.modelNotFound, `The request model: ${repoId} does not exist!`);
    return undefined;
  }
  if ((repo.access ?? "public") !== "public" && !hasValidToken(req, ctx)) {
    sendEnvelopeError(res, 404, MS_CODES.modelNotFound, `Authentication token does not exist, failed to get model ${repoId}`);
    return undefined;
  }
  return repo;
}
