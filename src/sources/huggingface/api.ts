import { listFiles } from "@huggingface/hub";
import { fetch as undiciFetch, type Dispatcher } from "undici";
import type { ResolvedFile, Snapshot } from "../../types.ts";
import { failedResponse, httpRequest, huggingfaceFileUrl } from "../../net/index.ts";
import { redactUrl } from "../../util/index.ts";
import { huggingfaceError, type HfErrorContext } from "./errors.ts";
import { HubError } from "../../errors.ts";
import { readCapped, withRetries, type ApiWait } from "../../net/index.ts";

export const DEFAULT_ENDPOINT = "https://huggingface.co";
const COMMIT = /^[0-9a-f]{40}$/;
const SHA256 = /^[0-9a-f]{64}$/;

export interface HfClient {
  endpoint: string;
  token?: string;
  dispatcher: Dispatcher;
  signal?: AbortSignal;
  onWait?: (wait: ApiWait) => void;
}

const callOptions = (client: HfClient) => ({ ...(client.signal ? { signal: client.signal } : {}), ...(client.onWait ? { onWait: client.onWait } : {}) });

function authHeaders(client: HfClient): Record<string, string> {
  return client.token ? { authorization: `Bearer ${client.token}` } : {};
}


async function getJson(client: HfClient, url: string, ctx: HfErrorContext): Promise<unknown> {
  return withRetries(callOptions(client), url, async (attempt) => {
    const res = await httpRequest(url, {
      headers: { accept: "application/json", ...authHeaders(client) },
      dispatcher: client.dispatcher,
      signal: attempt.signal,
    });
    if (res.status !== 200) throw huggingfaceError(await failedResponse(res), ctx);
    const text = await readCapped(res.body, url, attempt);
    try {
      return JSON.parse(text);
    } catch {
      throw new HubError(`The hub sent invalid JSON for ${ctx.repo}@${ctx.revision} (${redactUrl(url)}). Is HF_ENDPOINT a HuggingFace hub?`, { url: redactUrl(url) });
    }
  });
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
 * (@huggingface/hub does the paging). Blob name = `lfs.oid` (sha256) for LFS files, else the git oid.
 */
export async function listSnapshot(client: HfClient, repo: string, revision: string): Promise<Snapshot> {
  const commit = await resolveCommit(client, repo, revision);
  const ctx = { repo, revision, endpoint: client.endpoint, hasToken: Boolean(client.token) };
  // The library pages through `Link`; this fetch adds the token, uses our pool and explains errors in HF terms.
  const fetchWithAuth = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = String(input instanceof Request ? input.url : input);
    return withRetries(callOptions(client), url, async (attempt) => {
      const headers = { ...(init?.headers as Record<string, string>), ...authHeaders(client) };
      const res = await undiciFetch(url, { headers, dispatcher: client.dispatcher, signal: attempt.signal });
      if (res.ok) {
        // Hand the library a body we have read within bounds, and JSON we have checked is a list.
        const text = res.body ? await readCapped(res.body as unknown as AsyncIterable<Uint8Array>, url, attempt) : "";
        let page: unknown;
        try {
          page = JSON.parse(text);
        } catch {
          throw new HubError(`The hub sent a tree listing that is not JSON for ${repo}@${revision} (${redactUrl(url)}).`, { url: redactUrl(url) });
        }
        if (!Array.isArray(page)) throw new HubError(`The hub's tree listing for ${repo}@${revision} is not a list (${redactUrl(url)}).`, { url: redactUrl(url) });
        return new Response(text, { status: 200, headers: { "content-type": "application/json", ...(res.headers.get("link") ? { link: res.headers.get("link")! } : {}) } });
      }
      throw huggingfaceError({ status: res.status, headers: Object.fromEntries(res.headers), url, body: (await res.text()).slice(0, 4096) }, ctx);
    });
  };
  const files: ResolvedFile[] = [];
  const headers = authHeaders(client); // one object for every file of the listing (it may have 300,000)
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
      ...(gitOid && COMMIT.test(gitOid) ? { gitOid } : {}),
      url: huggingfaceFileUrl(client.endpoint, repo, commit, entry.path),
      headers,
    });
  }
  return { revision, commit, files };
}
