import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { resolveRevision, type HubContext } from "../context.ts";
import { authorizeRepo } from "./access.ts";
import { paginate } from "./pagination.ts";
import { sendHubError, sendJson } from "../reply.ts";
import { lfsPointerSize, type HubCommit, type HubRepo } from "../repo.ts";
import { COMMIT_DATE, entriesAt, entryOf, listPaths, withLastCommit, type TreeEntry } from "../tree.ts";

/** The route parts shared by the `/api/models/{repo}/…/{rev}` handlers. */
export interface ApiTarget {
  repoId: string;
  revision: string;
  url: URL;
}

function isTrue(value: string | null | undefined): boolean {
  return value !== null && value !== undefined && ["true", "1"].includes(value.toLowerCase());
}

function authorizedCommit(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: HubContext,
  target: ApiTarget,
): { repo: HubRepo; commit: HubCommit } | undefined {
  const repo = authorizeRepo(req, res, ctx, target.repoId, "api");
  if (!repo) return undefined;
  const commit = resolveRevision(repo, target.revision);
  if (!commit) {
    const message = `Invalid rev id: ${target.revision}`;
    sendHubError(res, 404, message, "RevisionNotFound");
    return undefined;
  }
  return { repo, commit };
}

/** `GET /api/models/{repo}/revision/{rev}`: model info, most importantly `sha` and `siblings`. */
export function handleRevision(req: IncomingMessage, res: ServerResponse, ctx: HubContext, target: ApiTarget): void {
  const found = authorizedCommit(req, res, ctx, target);
  if (!found) return;
  const { repo, commit } = found;
  const withBlobs = isTrue(target.url.searchParams.get("blobs"));
  const files = [...commit.files].sort((a, b) => (a.path < b.path ? -1 : 1));
  const siblings = files.map((file) => {
    if (!withBlobs) return { rfilename: file.path };
    const lfs = file.lfs ? { sha256: file.sha256, size: file.size, pointerSize: lfsPointerSize(file) } : undefined;
    return { rfilename: file.path, blobId: file.gitOid, size: file.size, ...(lfs && { lfs }) };
  });
  const access = repo.access ?? "public";
  sendJson(res, 200, {
    _id: createHash("sha1").update(repo.id).digest("hex").slice(0, 24),
    id: repo.id,
    modelId: repo.id,
    sha: commit.sha,
    private: access === "private",
    gated: access === "gated" ? "manual" : false,
    disabled: false,
    lastModified: COMMIT_DATE,
    tags: [],
    downloads: 0,
    likes: 0,
    siblings,
    usedStorage: files.reduce((sum, file) => sum + file.size, 0),
  });
}

/** `GET /api/models/{repo}/tree/{rev}[/{path}]?recursive=&expand=`, paginated through `Link`. */
export function handleTree(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: HubContext,
  target: ApiTarget & { dir: string },
): void {
  const found = authorizedCommit(req, res, ctx, target);
  if (!found) return;
  const { commit } = found;
  const entries = listPaths(commit, target.dir, isTrue(target.url.searchParams.get("recursive")));
  if (!entries) {
    sendHubError(res, 404, "Entry not found", "EntryNotFound", { "X-Repo-Commit": commit.sha });
    return;
  }
  const page = paginate(entries, target.url, ctx.pageSize);
  if (!page) {
    sendHubError(res, 400, "Invalid cursor");
    return;
  }
  const expand = isTrue(target.url.searchParams.get("expand"));
  const items = page.items.map((listed) => entryOf(commit, listed));
  const body = expand ? items.map((entry) => withLastCommit(entry, commit)) : items;
  sendJson(res, 200, body, page.next ? { Link: `<${page.next}>; rel="next"` } : {});
}

const MAX_BODY_BYTES = 1024 * 1024;

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    total += buffer.length;
    if (total > MAX_BODY_BYTES) throw new Error("Request body too large");
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

// huggingface_hub posts a form (`paths=a&paths=b&expand=true`), @huggingface/hub posts JSON.
function parsePathsRequest(contentType: string | undefined, body: string): { paths: string[]; expand: boolean } | undefined {
  if (contentType?.includes("application/json")) {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed !== "object" || parsed === null || !("paths" in parsed)) return undefined;
    const paths = typeof parsed.paths === "string" ? [parsed.paths] : parsed.paths;
    if (!Array.isArray(paths) || !paths.every((p): p is string => typeof p === "string")) return undefined;
    return { paths, expand: "expand" in parsed && parsed.expand === true };
  }
  const form = new URLSearchParams(body);
  return { paths: form.getAll("paths"), expand: isTrue(form.get("expand")) };
}

/** `POST /api/models/{repo}/paths-info/{rev}`: tree entries of the requested paths. */
export async function handlePathsInfo(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: HubContext,
  target: ApiTarget,
): Promise<void> {
  let request: { paths: string[]; expand: boolean } | undefined;
  try {
    request = parsePathsRequest(req.headers["content-type"], await readBody(req));
  } catch {
    request = undefined;
  }
  if (!request) {
    sendHubError(res, 400, "Expected a body with `paths`");
    return;
  }
  const found = authorizedCommit(req, res, ctx, target);
  if (!found) return;
  const { commit } = found;
  const entries: TreeEntry[] = entriesAt(commit, request.paths);
  sendJson(res, 200, request.expand ? entries.map((entry) => withLastCommit(entry, commit)) : entries);
}
