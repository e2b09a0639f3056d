import type { Env, FailedResponse, ResolvedFile, Snapshot } from "../../types.ts";
import { HubError } from "../../errors.ts";
import { hubClient, huggingfaceFileUrl, type HubAccess, type HubClient, type HubJsonRequest, type HubProfile } from "../../net/index.ts";
import { redactUrl } from "../../util/index.ts";
import { huggingfaceError } from "./errors.ts";

export const DEFAULT_ENDPOINT = "https://huggingface.co";
const COMMIT = /^[0-9a-f]{40}$/;
const SHA256 = /^[0-9a-f]{64}$/;

export const HUGGINGFACE: HubProfile = {
  name: "HuggingFace",
  endpointVar: "HF_ENDPOINT",
  credentials: (token) => ({ authorization: `Bearer ${token}` }),
};

/** `HF_ENDPOINT` is a full URL (mirrors, the local test hub); trailing slashes are ignored like huggingface_hub does. */
export function huggingfaceEndpoint(env: Env): string {
  return (env.HF_ENDPOINT || DEFAULT_ENDPOINT).replace(/\/+$/, "");
}

/** One tree entry as the hub lists it (`lfs.oid` is the sha256 of an LFS file, `oid` the git blob id). */
interface TreeEntry {
  type?: unknown;
  path?: unknown;
  size?: unknown;
  oid?: unknown;
  lfs?: { oid?: unknown; size?: unknown } | null;
}

/** Revision (branch, tag, `refs/pr/N`) → 40-hex commit. */
async function resolveCommit(hub: HubClient, request: Omit<HubJsonRequest, "what">): Promise<string> {
  const { url, of } = request;
  const { json } = await hub.json({ ...request, what: "an answer" });
  const sha = (json as { sha?: unknown } | null)?.sha;
  if (typeof sha !== "string" || !COMMIT.test(sha)) {
    throw new HubError(`The hub's answer for ${of} has no commit hash (sha). Is HF_ENDPOINT a HuggingFace hub?`, { url: redactUrl(url) });
  }
  return sha;
}

/** Where a tree page was listed: what each of its files needs (its URL, the token's headers) and messages name. */
interface ListedAt {
  endpoint: string;
  repo: string;
  commit: string;
  /** `repo@revision`, for messages. */
  of: string;
  /** The page's URL. */
  url: string;
  headers: Record<string, string>;
}

function fileOf(entry: TreeEntry, where: ListedAt): ResolvedFile {
  if (typeof entry.path !== "string") {
    throw new HubError(`The hub's tree listing for ${where.of} names a file without a path (${redactUrl(where.url)}).`, { url: redactUrl(where.url) });
  }
  const lfsOid = typeof entry.lfs?.oid === "string" ? entry.lfs.oid.toLowerCase() : undefined;
  const sha256 = lfsOid && SHA256.test(lfsOid) ? lfsOid : undefined;
  const gitOid = typeof entry.oid === "string" ? entry.oid.toLowerCase() : undefined;
  const git = gitOid && COMMIT.test(gitOid) ? gitOid : undefined;
  return {
    path: entry.path,
    size: (entry.lfs?.size ?? entry.size) as number, // checked with every other listing rule by checkSnapshot
    ...(sha256 ? { sha256, etag: sha256 } : git ? { gitSha1: git, etag: git } : {}),
    ...(git ? { gitOid: git } : {}),
    url: huggingfaceFileUrl(where.endpoint, where.repo, where.commit, entry.path),
    headers: { ...where.headers },
  };
}

/**
 * Every file of the commit from one recursive tree listing, following `Link: rel="next"` pages. A full commit hash
 * is used as is (no revision request). Blob name = `lfs.oid` (sha256) for LFS files, else the git oid.
 */
export async function listSnapshot(access: HubAccess, repo: string, revision: string): Promise<Snapshot> {
  const hub = hubClient(HUGGINGFACE, access);
  const ctx = { repo, revision, endpoint: access.endpoint, hasToken: Boolean(access.token) };
  const failure = (r: FailedResponse) => huggingfaceError(r, ctx);
  const of = `${repo}@${revision}`;
  const commit = COMMIT.test(revision)
    ? revision
    : await resolveCommit(hub, { url: `${access.endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}`, of, failure });
  const files: ResolvedFile[] = [];
  const url = `${access.endpoint}/api/models/${repo}/tree/${commit}?recursive=true&expand=false`;
  for await (const page of hub.pages({ url, what: "a tree listing", of, failure })) {
    if (!Array.isArray(page.json)) {
      throw new HubError(`The hub's tree listing for ${of} is not a list (${redactUrl(page.url)}).`, { url: redactUrl(page.url) });
    }
    for (const entry of page.json as (TreeEntry | null)[]) {
      if (entry?.type === "file") files.push(fileOf(entry, { endpoint: access.endpoint, repo, commit, of, url: page.url, headers: hub.credentials }));
    }
  }
  return { revision, commit, files };
}
