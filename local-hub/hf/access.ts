import type { IncomingMessage, ServerResponse } from "node:http";
import { repoKey, type HubContext } from "../context.ts";
import { sendHubError } from "../reply.ts";
import type { HubRepo } from "../repo.ts";

type Token = { kind: "none" } | { kind: "valid"; token: string } | { kind: "invalid" };

function readToken(req: IncomingMessage, ctx: HubContext): Token {
  const header = req.headers.authorization;
  if (!header) return { kind: "none" };
  const token = header.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  return token !== undefined && ctx.tokens.has(token) ? { kind: "valid", token } : { kind: "invalid" };
}

/**
 * Applies the Hub's access rules and returns the repo, or answers the error itself and returns undefined.
 * Like the real Hub, a private repo without a valid token looks exactly like a missing one, and gating
 * only applies to file downloads (`/resolve`), not to the API routes.
 */
export function authorizeRepo(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: HubContext,
  repoId: string,
  route: "api" | "resolve",
): HubRepo | undefined {
  const token = readToken(req, ctx);
  if (token.kind === "invalid") {
    sendHubError(res, 401, "Invalid credentials in Authorization header");
    return undefined;
  }
  const repo = ctx.repos.get(repoKey("huggingface", repoId));
  const access = repo?.access ?? "public";
  if (!repo || (access === "private" && token.kind !== "valid")) {
    sendHubError(res, 401, "Repository not found", "RepoNotFound");
    return undefined;
  }
  if (access !== "gated" || route === "api") return repo;
  if (token.kind !== "valid") {
    const message = `Access to model ${repoId} is restricted. You must have access to it and be authenticated to access it. Please log in.`;
    sendHubError(res, 401, message, "GatedRepo");
    return undefined;
  }
  if (!ctx.gatedAcceptedTokens.has(token.token)) {
    const message = `Access to model ${repoId} is restricted and you are not in the authorized list. Visit ${ctx.hubUrl}/${repoId} to ask for access.`;
    sendHubError(res, 403, message, "GatedRepo");
    return undefined;
  }
  return repo;
}
