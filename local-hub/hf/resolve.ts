import type { IncomingMessage, ServerResponse } from "node:http";
import { signedCdnUrl } from "../cdn.ts";
import { resolveRevision, type HubContext } from "../context.ts";
import { authorizeRepo } from "./access.ts";
import { sendHubError } from "../reply.ts";
import type { HubCommit, HubFile } from "../repo.ts";
import { serveFile } from "../serve-file.ts";
import { fileAt } from "../tree.ts";

export interface ResolveTarget {
  repoId: string;
  revision: string;
  path: string;
}

function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

function lookup(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: HubContext,
  target: ResolveTarget,
  acceptRevision: (commit: HubCommit) => boolean,
): { commit: HubCommit; file: HubFile } | undefined {
  const repo = authorizeRepo(req, res, ctx, target.repoId, "resolve");
  if (!repo) return undefined;
  const commit = resolveRevision(repo, target.revision);
  if (!commit || !acceptRevision(commit)) {
    sendHubError(res, 404, `Invalid rev id: ${target.revision}`, "RevisionNotFound");
    return undefined;
  }
  const file = fileAt(commit, target.path);
  if (!file) {
    sendHubError(res, 404, "Entry not found", "EntryNotFound", { "X-Repo-Commit": commit.sha });
    return undefined;
  }
  return { commit, file };
}

function redirectToCdn(res: ServerResponse, ctx: HubContext, commit: HubCommit, file: HubFile): void {
  res.writeHead(302, {
    Location: signedCdnUrl(ctx, file),
    "X-Repo-Commit": commit.sha,
    "X-Linked-Etag": `"${file.sha256}"`,
    "X-Linked-Size": String(file.size),
    ETag: `"${file.gitOid}"`,
    "Content-Length": "0",
  });
  res.end();
}

/**
 * `HEAD|GET /{repo}/resolve/{rev}/{path}`. LFS files redirect to the CDN origin; plain files on a branch or
 * tag take a relative detour through `/api/resolve-cache/…` (as huggingface.co does since 2026), plain
 * files at a commit sha are served right away.
 */
export function handleResolve(req: IncomingMessage, res: ServerResponse, ctx: HubContext, target: ResolveTarget): void {
  const found = lookup(req, res, ctx, target, () => true);
  if (!found) return;
  const { commit, file } = found;
  if (file.lfs) {
    redirectToCdn(res, ctx, commit, file);
  } else if (target.revision !== commit.sha) {
    res.writeHead(307, {
      Location: `/api/resolve-cache/models/${target.repoId}/${commit.sha}/${encodePath(file.path)}`,
      "X-Repo-Commit": commit.sha,
      "Content-Length": "0",
    });
    res.end();
  } else {
    serveFile(req, res, ctx, file, { "X-Repo-Commit": commit.sha, ETag: `"${file.gitOid}"` });
  }
}

/** `HEAD|GET /api/resolve-cache/models/{repo}/{commit}/{path}`: only takes a full commit sha. */
export function handleResolveCache(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: HubContext,
  target: ResolveTarget,
): void {
  const found = lookup(req, res, ctx, target, (commit) => commit.sha === target.revision);
  if (!found) return;
  const { commit, file } = found;
  serveFile(req, res, ctx, file, { "X-Repo-Commit": commit.sha, ETag: `"${file.gitOid}"` });
}
