import { listFiles } from "@huggingface/hub";
import { fetch as undiciFetch, type Dispatcher } from "undici";
import type { ResolvedFile, Snapshot } from "../types.ts";
import { failedResponse, httpRequest, isRetryableStatus, retryAfterMs } from "../http.ts";
import { huggingfaceError, type HfErrorContext } from "./errors.ts";
import { HubError } from "../errors.ts";

export const DEFAULT_ENDPOINT = "https://huggingface.co";
const COMMIT = /^[0-9a-f]{40}$/;
const SHA256 = /^[0-9a-f]{64}$/;

export interface HfClient {
  endpoint: string;
  token?: string;
  dispatcher: Dispatcher;
  signal?: AbortSignal;
}

function authHeaders(client: HfClient): Record<string, string> {
  return client.token ? { authorization: `Bearer ${client.token}` } : {};
}

/** Percent-encode each path segment, keep the slashes (spec §1.2: the filename keeps `/`). */
export function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

/** GET JSON from the Hub API with up to 3 retries on 408/429/5xx and network errors. */
async function getJson(client: HfClient, url: string, ctx: HfErrorContext): Promise<unknown> {
  for (let attempt = 1; ; attempt++) {
    let failure: HubError;
    try {
      const res = await httpRequest(url, { headers: { accept: "application/json", ...authHeaders(client) }, dispatcher: client.dispatcher, ...(client.signal ? { signal: client.signal } : {}) });
      if (res.status === 200) {
        const text = await res.body.text();
        try {
          return JSON.parse(text);
        } catch {
          throw new HubError(`The hub sent invalid JSON for ${ctx.repo}@${ctx.revision} (${url.split("?")[0]}). Is HF_ENDPOINT a HuggingFace hub?`, { url });
        }
      }
      failure = huggingfaceError(await failedResponse(res), ctx);
      if (!isRetryableStatus(res.status) || attempt >= 4) throw failure;
    } catch (error) {
      if (error instanceof HubError || attempt >= 4 || client.signal?.aborted) throw error;
      failure = new HubError(`Cannot reach ${new URL(url).origin}: ${(error as Error).message}`, { retryable: true }, { cause: error });
      if (attempt >= 4) throw failure;
    }
    await new Promise((r) => setTimeout(r, failure.info.retryAfterMs ?? 500 * 2 ** attempt));
  }
}

/** Revision (branch, tag, `refs/pr/N`) → 40-hex commit. A full commit hash is used as is (no request). */
export async function resolveCommit(client: HfClient, repo: string, revision: string): Promise<string> {
  if (COMMIT.test(revision)) return revision;
  const ctx = { repo, revision, endpoint: client.endpoint, hasToken: Boolean(client.token) };
  const url = `${client.endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}`;
  const info = (await getJson(client, url, ctx)) as { sha?: unknown };
  if (typeof info?.sha !== "string" || !COMMIT.test(info.sha)) {
    throw new HubError(`The hub's answer for ${repo}@${revision} has no commit hash (sha). Is HF_ENDPOINT a HuggingFace hub?`, { url });
  }
  return info.sha;
}

/**
 * Every file of the commit from one recursive tree listing, following `Link: rel="next"` pages
 * (spec §0 rule 8; @huggingface/hub does the paging). Blob name = `lfs.oid` (sha256) for LFS files, else the git oid.
 */
export async function listSnapshot(client: HfClient, repo: string, revision: string): Promise<Snapshot> {
  const commit = await resolveCommit(client, repo, revision);
  const ctx = { repo, revision, endpoint: client.endpoint, hasToken: Boolean(client.token) };
  // The library pages through `Link`; this fetch adds the token, uses our pool and explains errors in HF terms.
  const fetchWithAuth = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = String(input instanceof Request ? input.url : input);
    for (let attempt = 1; ; attempt++) {
      const headers = { ...(init?.headers as Record<string, string>), ...authHeaders(client) };
      const res = await undiciFetch(url, { headers, dispatcher: client.dispatcher, ...(client.signal ? { signal: client.signal } : {}) });
      if (res.ok) return res as unknown as Response;
      const body = await res.text();
      const failed = { status: res.status, headers: Object.fromEntries(res.headers), url, body };
      const error = huggingfaceError(failed, ctx);
      if (!isRetryableStatus(res.status) || attempt >= 4) throw error;
      await new Promise((r) => setTimeout(r, retryAfterMs(failed.headers) ?? 500 * 2 ** attempt));
    }
  };
  const files: ResolvedFile[] = [];
  for await (const entry of listFiles({
    repo: { type: "model", name: repo },
    revision: commit,
    recursive: true,
    hubUrl: client.endpoint,
    fetch: fetchWithAuth as typeof fetch,
  })) {
    if (entry.type !== "file") continue;
    const lfsOid = entry.lfs?.oid?.toLowerCase();
    const sha256 = lfsOid && SHA256.test(lfsOid) ? lfsOid : undefined;
    const gitOid = entry.oid?.toLowerCase();
    files.push({
      path: entry.path,
      size: entry.lfs?.size ?? entry.size,
      ...(sha256 ? { sha256, etag: sha256 } : gitOid && COMMIT.test(gitOid) ? { gitSha1: gitOid, etag: gitOid } : {}),
      url: `${client.endpoint}/${repo}/resolve/${commit}/${encodePath(entry.path)}`,
      headers: authHeaders(client),
    });
  }
  return { revision, commit, files };
}
