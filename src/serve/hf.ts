import { createHash } from "node:crypto";
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { StoredCommit, StoredFile, StoredRepo } from "./store-view.ts";
import { lfsPointer } from "./store-view.ts";
import { cacheControl, hfError, queryFlag, readBody, resolveRevision, UpstreamError, validFilePath, validRepoId, type HubCall, type ServeContext } from "./context.ts";
import { sendJson, sendStoredFile } from "./send.ts";

// The HuggingFace protocol subset the clients use: model info, tree, paths-info and resolve. Answers come from the
// store's listings; bytes only for files a complete manifest lists.

const ACTIONS = new Set(["revision", "tree", "paths-info", "refs", "xet-read-token", "resolve"]);
const POST_LIMIT = 1024 * 1024;

interface Route {
  repoId: string;
  action: string;
  /** Segments after the action, percent-decoded one by one. */
  rest: string[];
}

/** `org/name/<action>/…` or `name/<action>/…`: the reading that names a stored repo wins, else org/name. */
async function splitRepo(segs: string[], ctx: ServeContext, actions: Set<string>): Promise<Route | undefined> {
  const readings: Route[] = [];
  for (const n of [2, 1]) {
    const action = segs[n];
    if (segs.length < n || (action !== undefined && !actions.has(action))) continue;
    readings.push({ repoId: segs.slice(0, n).join("/"), action: action ?? "", rest: segs.slice(n + 1) });
  }
  if (readings.length === 0) return undefined;
  for (const r of readings) if (validRepoId(r.repoId) && (await ctx.hasRepo("huggingface", r.repoId))) return r;
  return readings.find((r) => validRepoId(r.repoId)) ?? readings[0];
}

/** The revision at the start of `rest`: one (decoded) segment, or `refs/pr/<n>` / `refs/convert/<x>` sent raw. */
function takeRevision(rest: string[]): { revision: string | undefined; rest: string[] } {
  if (rest[0] === "refs" && rest.length >= 3) return { revision: rest.slice(0, 3).join("/"), rest: rest.slice(3) };
  return { revision: rest[0], rest: rest.slice(1) };
}

const isLfs = (f: StoredFile) => f.sha256 !== undefined;
const pointerSize = (f: StoredFile) => Buffer.byteLength(lfsPointer(f.sha256!, f.size));

function treeFile(f: StoredFile, commit: StoredCommit, expand: boolean): Record<string, unknown> {
  return {
    type: "file",
    oid: f.gitOid ?? f.etag,
    size: f.size,
    path: f.path,
    ...(isLfs(f) ? { lfs: { oid: f.sha256, size: f.size, pointerSize: pointerSize(f) } } : {}),
    ...(expand ? { lastCommit: { id: commit.commit, title: "", date: commit.completedAt ?? new Date(0).toISOString() } } : {}),
  };
}

function treeDir(path: string, commit: StoredCommit, expand: boolean): Record<string, unknown> {
  const oid = createHash("sha1").update(`${commit.commit}\0${path}`).digest("hex");
  return { type: "directory", oid, size: 0, path, ...(expand ? { lastCommit: { id: commit.commit, title: "", date: commit.completedAt ?? new Date(0).toISOString() } } : {}) };
}

/** Files and directories of a commit under `prefix` (one level, or all), sorted by path. */
function listTree(commit: StoredCommit, prefix: string, recursive: boolean): { path: string; file?: StoredFile }[] {
  const out = new Map<string, StoredFile | undefined>();
  const base = prefix ? `${prefix}/` : "";
  for (const f of commit.files.values()) {
    if (!f.path.startsWith(base)) continue;
    const parts = f.path.slice(base.length).split("/");
    const depth = recursive ? parts.length : 1;
    for (let i = 1; i <= Math.min(depth, parts.length); i++) {
      const p = base + parts.slice(0, i).join("/");
      if (i === parts.length) out.set(p, f);
      else if (!out.has(p)) out.set(p, undefined);
    }
  }
  return [...out].map(([path, file]) => ({ path, ...(file ? { file } : {}) })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function modelInfo(repo: StoredRepo, commit: StoredCommit, blobs: boolean): Record<string, unknown> {
  const files = [...commit.files.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
  const [author] = repo.id.includes("/") ? repo.id.split("/") : [undefined];
  const date = commit.completedAt ?? new Date(0).toISOString();
  return {
    _id: createHash("sha1").update(repo.id).digest("hex").slice(0, 24),
    id: repo.id, modelId: repo.id, ...(author ? { author } : {}),
    sha: commit.commit, private: false, disabled: false, gated: false,
    lastModified: date, createdAt: date, tags: [], downloads: 0, likes: 0, pipeline_tag: null, library_name: null,
    siblings: files.map((f) => ({
      rfilename: f.path,
      ...(blobs ? { blobId: f.gitOid ?? f.etag, size: f.size, ...(isLfs(f) ? { lfs: { sha256: f.sha256, size: f.size, pointerSize: pointerSize(f) } } : {}) } : {}),
    })),
    usedStorage: files.reduce((n, f) => n + f.size, 0),
  };
}

/** A repo and the commit a revision names, or the error answer already sent. */
async function repoAt(res: ServerResponse, ctx: ServeContext, repoId: string, revision: string | undefined): Promise<{ repo: StoredRepo; commit: StoredCommit } | undefined> {
  let repo: StoredRepo | undefined;
  try {
    repo = validRepoId(repoId) ? await ctx.repo("huggingface", repoId, revision) : undefined;
  } catch (error) {
    upstreamFailure(res, error);
    return undefined;
  }
  if (!repo) {
    hfError(res, { status: 404, code: "RepoNotFound", message: `Repository not found: ${repoId}` });
    return undefined;
  }
  const sha = resolveRevision(repo, revision, "main");
  const commit = sha ? repo.commits.get(sha) : undefined;
  if (!commit) {
    hfError(res, { status: 404, code: "RevisionNotFound", message: `Invalid rev id: ${revision ?? "main"}` });
    return undefined;
  }
  return { repo, commit };
}

function upstreamFailure(res: ServerResponse, error: unknown): void {
  if (!(error instanceof UpstreamError)) throw error;
  hfError(res, { status: error.status, code: error.code, message: error.message });
}

export async function handleHuggingFace({ req, res, segs, url }: HubCall, ctx: ServeContext): Promise<boolean> {
  const method = req.method ?? "GET";
  if (segs[0] === "api" && (segs[1] === "models" || segs[1] === "datasets")) {
    // The store holds models only: every dataset is unknown.
    if (segs[1] === "datasets") return hfError(res, { status: 404, code: "RepoNotFound", message: "Repository not found (this mirror serves models only)" }), true;
    const route = await splitRepo(segs.slice(2), ctx, ACTIONS);
    if (!route) return false;
    if (route.action === "") return modelInfoRoute(req, res, route.repoId, undefined, url, ctx);
    if (route.action === "revision") return modelInfoRoute(req, res, route.repoId, route.rest.join("/") || undefined, url, ctx);
    const { revision, rest } = takeRevision(route.rest);
    if (route.action === "tree" && (method === "GET" || method === "HEAD")) return treeRoute(req, res, route.repoId, revision, rest.join("/"), url, ctx);
    if (route.action === "paths-info" && method === "POST") return pathsInfoRoute(req, res, route.repoId, route.rest.join("/"), ctx);
    if (route.action === "refs" && method === "GET") return refsRoute(res, route.repoId, ctx);
    // Never advertise Xet: its token route does not exist here.
    return hfError(res, { status: 404, message: `Not found: ${url.pathname}` }), true;
  }
  if (segs[0] === "datasets" && segs.includes("resolve")) return hfError(res, { status: 404, code: "RepoNotFound", message: "Repository not found (this mirror serves models only)" }), true;
  const route = await splitRepo(segs, ctx, new Set(["resolve"]));
  if (!route || route.action !== "resolve") return false;
  if (method !== "GET" && method !== "HEAD") return false;
  const { revision, rest } = takeRevision(route.rest);
  await resolveRoute(req, res, route.repoId, revision, rest.join("/"), ctx);
  return true;
}

async function modelInfoRoute(req: IncomingMessage, res: ServerResponse, repoId: string, revision: string | undefined, url: URL, ctx: ServeContext): Promise<true> {
  if (req.method !== "GET" && req.method !== "HEAD") return hfError(res, { status: 405, message: "Method not allowed" }), true;
  const at = await repoAt(res, ctx, repoId, revision);
  if (!at) return true;
  sendJson(res, { status: 200, body: modelInfo(at.repo, at.commit, queryFlag(url.searchParams.get("blobs"))), headers: { "cache-control": cacheControl(revision, ctx.authenticated) } });
  return true;
}

async function treeRoute(req: IncomingMessage, res: ServerResponse, repoId: string, revision: string | undefined, path: string, url: URL, ctx: ServeContext): Promise<true> {
  const at = await repoAt(res, ctx, repoId, revision);
  if (!at) return true;
  const commitHeader = { "x-repo-commit": at.commit.commit };
  const prefix = path.replace(/\/+$/, "");
  if (prefix && !validFilePath(prefix)) return hfError(res, { status: 404, code: "EntryNotFound", message: `Invalid path: ${prefix}`, headers: commitHeader }), true;
  const entries = listTree(at.commit, prefix, queryFlag(url.searchParams.get("recursive")));
  if (prefix && entries.length === 0) {
    // A path naming a file lists nothing; a path naming nothing is "not found" (optional folders are probed so).
    if (at.commit.files.has(prefix)) return sendJson(res, { status: 200, body: [], headers: commitHeader }), true;
    return hfError(res, { status: 404, code: "EntryNotFound", message: `${prefix} does not exist on ${revision ?? "main"}`, headers: commitHeader }), true;
  }
  const expand = queryFlag(url.searchParams.get("expand"));
  const cursor = Math.max(0, Number.parseInt(url.searchParams.get("cursor") ?? "0", 10) || 0);
  const page = entries.slice(cursor, cursor + ctx.pageSize);
  const headers: OutgoingHttpHeaders = { ...commitHeader, "cache-control": cacheControl(revision, ctx.authenticated) };
  if (cursor + ctx.pageSize < entries.length) {
    // Absolute, on the public base: a relative Link breaks Python and makes JS stop after page 1.
    const next = new URL(url.pathname + url.search, ctx.publicUrl(req));
    next.searchParams.set("cursor", String(cursor + ctx.pageSize));
    headers.link = `<${next.href}>; rel="next"`;
  }
  sendJson(res, { status: 200, body: page.map((e) => (e.file ? treeFile(e.file, at.commit, expand) : treeDir(e.path, at.commit, expand))), headers });
  return true;
}

async function pathsInfoRoute(req: IncomingMessage, res: ServerResponse, repoId: string, revision: string, ctx: ServeContext): Promise<true> {
  const body = await readBody(req, POST_LIMIT);
  if (body === undefined) return hfError(res, { status: 413, message: `Request body larger than ${POST_LIMIT} bytes` }), true;
  let paths: string[] = [];
  let expand = false;
  const text = body.toString("utf8");
  if ((req.headers["content-type"] ?? "").includes("json")) {
    try {
      const data = JSON.parse(text) as { paths?: unknown; expand?: unknown };
      paths = Array.isArray(data.paths) ? data.paths.filter((p): p is string => typeof p === "string") : [];
      expand = data.expand === true;
    } catch {
      return hfError(res, { status: 400, message: "paths-info: the body is not valid JSON" }), true;
    }
  } else {
    const form = new URLSearchParams(text);
    paths = form.getAll("paths");
    expand = queryFlag(form.get("expand"));
  }
  const at = await repoAt(res, ctx, repoId, revision || undefined);
  if (!at) return true;
  const all = listTree(at.commit, "", true);
  const wanted = new Set(paths.map((p) => p.replace(/\/+$/, "")));
  const found = all.filter((e) => wanted.has(e.path));
  const entries = found.map((e) => (e.file ? treeFile(e.file, at.commit, expand) : treeDir(e.path, at.commit, expand)));
  sendJson(res, { status: 200, body: entries, headers: { "x-repo-commit": at.commit.commit, "cache-control": cacheControl(revision, ctx.authenticated) } });
  return true;
}

async function refsRoute(res: ServerResponse, repoId: string, ctx: ServeContext): Promise<true> {
  const repo = validRepoId(repoId) ? await ctx.repo("huggingface", repoId).catch(() => undefined) : undefined;
  if (!repo) return hfError(res, { status: 404, code: "RepoNotFound", message: `Repository not found: ${repoId}` }), true;
  // The cache does not record branch vs tag: every ref is listed as a branch.
  const branches = [...repo.refs].filter(([name]) => !name.startsWith("refs/")).map(([name, c]) => ({ name, ref: `refs/heads/${name}`, targetCommit: c }));
  sendJson(res, { status: 200, body: { branches, tags: [], converts: [] }, headers: { "cache-control": "no-cache" } });
  return true;
}

async function resolveRoute(req: IncomingMessage, res: ServerResponse, repoId: string, revision: string | undefined, path: string, ctx: ServeContext): Promise<void> {
  const at = await repoAt(res, ctx, repoId, revision);
  if (!at) return;
  const commitHeader = { "x-repo-commit": at.commit.commit };
  if (!validFilePath(path)) return hfError(res, { status: 404, code: "EntryNotFound", message: `Entry not found: invalid path`, headers: commitHeader });
  let file = at.commit.files.get(path);
  if (!file) return hfError(res, { status: 404, code: "EntryNotFound", message: `${path} does not exist at ${at.commit.commit}`, headers: commitHeader });
  const headers = (f: StoredFile): OutgoingHttpHeaders => ({
    ...commitHeader,
    etag: `"${f.etag ?? f.gitOid}"`,
    ...(isLfs(f) ? { "x-linked-etag": `"${f.etag ?? f.sha256}"`, "x-linked-size": f.size } : {}),
    "cache-control": cacheControl(revision, ctx.authenticated),
  });
  if (!file.disk && ctx.fetchFile && req.method === "HEAD") {
    // Pull-through HEAD: answered from the upstream listing at once; clients give a HEAD about 10 s.
    res.writeHead(200, { ...headers(file), "accept-ranges": "bytes", "content-type": "application/octet-stream", "content-length": file.size });
    return void res.end();
  }
  if (!file.disk && ctx.fetchFile) {
    try {
      const repo = await ctx.fetchFile({ repo: at.repo, revision: revision ?? "main", commit: at.commit, path });
      file = repo?.commits.get(at.commit.commit)?.files.get(path) ?? file;
    } catch (error) {
      return upstreamFailure(res, error);
    }
  }
  // Listed but not stored: no X-Repo-Commit, so the client does not record the file as absent from the commit.
  const notMirrored = () => hfError(res, { status: 404, code: "EntryNotFound", message: `${path} is not mirrored here` });
  if (!file.disk) return notMirrored();
  await sendStoredFile(req, res, { file: { disk: file.disk, size: file.size }, headers: headers(file), onGone: notMirrored });
}
