import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { StoredCommit, StoredRepo } from "./store-view.ts";
import { cacheControl, UpstreamError, validFilePath, validRepoId, type HubCall, type ServeContext } from "./context.ts";
import { sendJson, sendStoredFile } from "./send.ts";

// The ModelScope protocol subset: model info (the existence probe), revisions, the file listing with per-file
// revision and sha256, and file bytes with exact Range. One revision per stored model (ModelScope's cache holds one).

const ok = (res: ServerResponse, data: unknown, headers: Record<string, string> = {}) =>
  sendJson(res, { status: 200, body: { Code: 200, Data: data, Message: "success", RequestId: randomUUID(), Success: true }, headers });

function msError(res: ServerResponse, status: number, message: string): void {
  const body = { Code: status === 404 ? 10010205001 : status, Data: null, Message: message, RequestId: randomUUID(), Success: false };
  sendJson(res, { status, body, headers: { "x-error-message": message.replace(/[^\x20-\x7e]/g, "?"), "cache-control": "no-store" } });
}

/** Version-like names are tags (legacy clients without a revision pick the newest tag), the rest branches. */
const looksLikeTag = (name: string) => /^v?\d+(\.\d+)*([-.].*)?$/.test(name);

/** The stored revision a request names (`Revision=`; none means the one stored), with its commit. */
function revisionOf(repo: StoredRepo, revision: string | null): { name: string; commit: StoredCommit } | undefined {
  for (const [name, sha] of repo.refs) {
    if (revision && revision !== name) continue;
    const commit = repo.commits.get(sha);
    if (commit) return { name, commit };
  }
  return undefined;
}

export async function handleModelScope({ req, res, segs, url }: HubCall, ctx: ServeContext): Promise<boolean> {
  if (segs[0] !== "api" || segs[1] !== "v1") return false;
  if (segs[2] === "datasets") return msError(res, 404, "Datasets are not served by this mirror"), true;
  if (segs[2] !== "models" || segs.length < 5) return false;
  if (req.method !== "GET" && req.method !== "HEAD") return msError(res, 405, "Method not allowed"), true;
  const id = `${segs[3]}/${segs[4]}`;
  const action = segs.slice(5).join("/");
  if (!["", "revisions", "repo/files", "repo"].includes(action)) return false;
  const revisionParam = url.searchParams.get("Revision") ?? url.searchParams.get("revision");
  let repo: StoredRepo | undefined;
  try {
    repo = validRepoId(id) ? await ctx.repo("modelscope", id, revisionParam ?? undefined) : undefined;
  } catch (error) {
    if (!(error instanceof UpstreamError)) throw error;
    return msError(res, error.status, error.message), true;
  }
  if (!repo) return msError(res, 404, `The request model: ${id} does not exist!`), true;

  if (action === "") {
    const [owner, name] = id.split("/");
    return ok(res, { Id: 0, Name: name, Path: owner, ChineseName: "", Description: "", Tags: [], IsMirror: true }, { "cache-control": "no-cache" }), true;
  }
  if (action === "revisions") {
    const createdAt = repo.createdAt ?? 0;
    const names = [...repo.refs.keys()];
    const entry = (n: string) => ({ Revision: n, CreatedAt: createdAt, Message: "", CreatedBy: "" });
    const Branches = names.filter((n) => !looksLikeTag(n)).map(entry);
    const Tags = names.filter(looksLikeTag).map(entry);
    return ok(res, { RevisionMap: { Branches, Tags } }, { "cache-control": "no-cache" }), true;
  }
  const at = revisionOf(repo, revisionParam);
  if (!at) return msError(res, 404, `Revision ${revisionParam} of ${id} is not on this mirror`), true;

  if (action === "repo/files") {
    const rootParam = url.searchParams.get("Root") ?? "";
    const root = rootParam.replace(/^\/+|\/+$/g, "");
    const recursive = (url.searchParams.get("Recursive") ?? "").toLowerCase() === "true";
    const files = [...at.commit.files.values()].filter((f) => !root || f.path.startsWith(`${root}/`)).sort((a, b) => (a.path < b.path ? -1 : 1));
    const entries: Record<string, unknown>[] = [];
    const dirs = new Set<string>();
    for (const f of files) {
      const rel = root ? f.path.slice(root.length + 1) : f.path;
      if (!recursive && rel.includes("/")) {
        const dir = (root ? `${root}/` : "") + rel.split("/")[0];
        if (!dirs.has(dir)) {
          dirs.add(dir);
          entries.push({ Name: dir.split("/").pop(), Path: dir, Type: "tree", Size: 0, Sha256: null, Revision: at.commit.commit, IsLFS: false, Mode: "16384", CommitMessage: "", CommittedDate: 0, CommitterName: "", InCheck: false });
        }
        continue;
      }
      entries.push({
        Name: f.path.split("/").pop(), Path: f.path, Type: "blob", Size: f.size, Sha256: f.sha256 ?? null,
        Revision: f.fileRevision ?? at.commit.commit, IsLFS: false, Mode: "33188",
        CommitMessage: "", CommittedDate: repo.createdAt ?? 0, CommitterName: "", InCheck: false,
      });
    }
    return ok(res, { Files: entries }, { "cache-control": "no-cache" }), true;
  }

  // action === "repo": the bytes of one listed file.
  const path = url.searchParams.get("FilePath") ?? "";
  if (!validFilePath(path)) return msError(res, 404, `File ${path} is not in ${id}`), true;
  let file = at.commit.files.get(path);
  if (!file) return msError(res, 404, `File ${path} is not in ${id}@${at.name}`), true;
  if (!file.disk && ctx.fetchFile) {
    try {
      file = (await ctx.fetchFile({ repo, revision: at.name, commit: at.commit, path }))?.commits.get(at.commit.commit)?.files.get(path) ?? file;
    } catch (error) {
      if (!(error instanceof UpstreamError)) throw error;
      return msError(res, error.status, error.message), true;
    }
  }
  const notMirrored = () => msError(res, 404, `${path} of ${id} is not mirrored here`);
  if (!file.disk) return notMirrored(), true;
  await sendStoredFile(req, res, { file: { disk: file.disk, size: file.size }, headers: { "cache-control": cacheControl(undefined, ctx.authenticated) }, onGone: notMirrored });
  return true;
}
