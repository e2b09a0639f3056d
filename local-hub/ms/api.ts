import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { resolveRevision, type HubContext } from "../context.ts";
import { authorizeModel } from "./access.ts";
import { msListing } from "./listing.ts";
import { MS_CODES, sendEnvelope, sendEnvelopeError } from "./reply.ts";
import { defaultBranch, REF_BASE_TIME, type HubCommit, type HubRepo } from "../repo.ts";
import { COMMIT_DATE } from "../tree.ts";

/** The route parts shared by the `/api/v1/models/{owner}/{name}…` handlers. */
export interface MsTarget {
  repoId: string;
  url: URL;
}

/**
 * The commit for the `Revision` query parameter (absent or empty = the default branch), or undefined after
 * answering the failure the ModelScope way: HTTP 200 with `Code != 200` in the envelope.
 */
export function requestedCommit(res: ServerResponse, repo: HubRepo, url: URL): HubCommit | undefined {
  const revision = url.searchParams.get("Revision") || defaultBranch(repo.source);
  const commit = resolveRevision(repo, revision);
  if (!commit) sendEnvelopeError(res, 200, MS_CODES.revisionNotFound, `Revision ${revision} not found`);
  return commit;
}

/** `GET /api/v1/models/{owner}/{name}`: model info. */
export function handleModelInfo(req: IncomingMessage, res: ServerResponse, ctx: HubContext, target: MsTarget): void {
  const repo = authorizeModel(req, res, ctx, target.repoId);
  if (!repo) return;
  const [owner = "", name = ""] = repo.id.split("/");
  const isPublic = (repo.access ?? "public") === "public";
  sendEnvelope(res, {
    Id: createHash("sha1").update(repo.id).digest().readUInt32BE(0) % 1_000_000,
    Name: name,
    Path: owner,
    ChineseName: "",
    Description: "",
    Tasks: [],
    Downloads: 0,
    Stars: 0,
    // ModelScope's visibility levels: 1 private, 5 public.
    Visibility: isPublic ? 5 : 1,
    CreatedTime: Date.parse(COMMIT_DATE) / 1000,
    LastUpdatedTime: Date.parse(COMMIT_DATE) / 1000,
  });
}

/** `GET /api/v1/models/{owner}/{name}/revisions`: branches (default first) and tags (newest first). */
export function handleRevisions(req: IncomingMessage, res: ServerResponse, ctx: HubContext, target: MsTarget): void {
  const repo = authorizeModel(req, res, ctx, target.repoId);
  if (!repo) return;
  const tags = new Set(repo.tags ?? []);
  const head = defaultBranch(repo.source);
  const revision = (ref: string) => ({ Revision: ref, CreatedAt: repo.createdAt?.[ref] ?? REF_BASE_TIME });
  const refs = Object.keys(repo.refs);
  const branches = refs.filter((ref) => !tags.has(ref)).sort((a, b) => Number(b === head) - Number(a === head));
  const tagList = refs.filter((ref) => tags.has(ref)).map(revision).sort((a, b) => b.CreatedAt - a.CreatedAt);
  sendEnvelope(res, { RevisionMap: { Branches: branches.map(revision), Tags: tagList } });
}

/** `GET /api/v1/models/{owner}/{name}/repo/files?Revision=&Recursive=True[&Root=]`. */
export function handleFiles(req: IncomingMessage, res: ServerResponse, ctx: HubContext, target: MsTarget): void {
  const repo = authorizeModel(req, res, ctx, target.repoId);
  if (!repo) return;
  const commit = requestedCommit(res, repo, target.url);
  if (!commit) return;
  const root = (target.url.searchParams.get("Root") ?? "").replace(/^\/+|\/+$/g, "");
  const recursive = target.url.searchParams.get("Recursive")?.toLowerCase() === "true";
  sendEnvelope(res, { Files: msListing(repo, commit, root, recursive) });
}
