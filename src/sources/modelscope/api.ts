import { createHash } from "node:crypto";
import { posix } from "node:path";
import type { Env, ResolvedFile, Snapshot } from "../../types.ts";
import { hubClient, type HubAccess, type HubClient, type HubProfile } from "../../net/index.ts";
import { HubError } from "../../errors.ts";
import { redactUrl } from "../../util/index.ts";
import { envelopeError, envelopeOk, modelscopeError, type Envelope, type MsErrorContext } from "./errors.ts";

export const DEFAULT_ENDPOINT = "https://www.modelscope.cn";
const SHA256 = /^[0-9a-f]{64}$/;

/**
 * Both forms the hubs accept: the `m_session_id` cookie (the legacy site) and a Bearer token (the new hub).
 * They go to the API host only: the core drops both when a download redirect leaves its origin.
 */
export const MODELSCOPE: HubProfile = {
  name: "ModelScope",
  endpointVar: "MODELSCOPE_ENDPOINT",
  credentials: (token) => ({ authorization: `Bearer ${token}`, cookie: `m_session_id=${token}` }),
};

/**
 * The hub to talk to: `MODELSCOPE_ENDPOINT` (full URL: mirrors, the local test hub), else
 * `MODELSCOPE_DOMAIN` (a bare host, https), else www.modelscope.cn. No endpoint probing: a run is predictable.
 */
export function modelscopeEndpoint(env: Env): string {
  const endpoint = env.MODELSCOPE_ENDPOINT?.trim();
  if (endpoint) return endpoint.replace(/\/+$/, "");
  const domain = env.MODELSCOPE_DOMAIN?.trim();
  if (domain) return (/^https?:\/\//i.test(domain) ? domain : `https://${domain}`).replace(/\/+$/, "");
  return DEFAULT_ENDPOINT;
}

/** Python's `quote_plus`: everything but letters, digits and `_.-~` is escaped, a space becomes `+`. */
export function quotePlus(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, "+");
}

function apiBase(endpoint: string, repo: string): string {
  return `${endpoint}/api/v1/models/${repo}`;
}

/** GET an `/api/v1` URL and return the envelope's `Data`; `Code != 200` fails even inside an HTTP 200. */
async function getData(hub: HubClient, url: string, ctx: MsErrorContext): Promise<unknown> {
  const of = `${ctx.repo}@${ctx.revision}`;
  const { json } = await hub.json({ url, what: "an answer", of, failure: (r) => modelscopeError(r, ctx) });
  if (!json || typeof json !== "object" || Array.isArray(json)) {
    throw new HubError(`ModelScope sent an answer that is not a {Code, Data} envelope for ${of} (${redactUrl(url)}). Is MODELSCOPE_ENDPOINT a ModelScope hub?`, { url: redactUrl(url) });
  }
  const envelope = json as Envelope;
  if (!envelopeOk(envelope)) throw envelopeError(envelope, ctx, url);
  return envelope.Data;
}

export interface MsRevision {
  name: string;
  /** Epoch seconds (the hub may send milliseconds; normalised). */
  createdAt: number;
  kind: "branch" | "tag";
}

function revisionsOf(list: unknown, kind: MsRevision["kind"]): MsRevision[] {
  if (!Array.isArray(list)) return [];
  return list.flatMap((r: { Revision?: unknown; CreatedAt?: unknown }) => {
    if (typeof r?.Revision !== "string") return [];
    const created = Number(r.CreatedAt);
    const createdAt = Number.isFinite(created) ? (created > 1e11 ? Math.floor(created / 1000) : Math.floor(created)) : 0;
    return [{ name: r.Revision, createdAt, kind }];
  });
}

/** Branches and tags (`/revisions`, asked before the listing, as the library does). A private or missing model answers 404 here. */
async function listRevisions(hub: HubClient, base: string, ctx: MsErrorContext): Promise<MsRevision[]> {
  const data = (await getData(hub, `${base}/revisions`, ctx)) as {
    RevisionMap?: { Branches?: unknown; Tags?: unknown };
  } | null;
  return [...revisionsOf(data?.RevisionMap?.Branches, "branch"), ...revisionsOf(data?.RevisionMap?.Tags, "tag")];
}

interface MsFileEntry {
  Path?: unknown;
  Name?: unknown;
  Type?: unknown;
  Size?: unknown;
  Sha256?: unknown;
  Revision?: unknown;
}

/** Files the legacy library never downloads (git bookkeeping, not model files). */
const SKIPPED = new Set([".gitattributes", ".gitignore"]);

/**
 * Revision → the model's files: the revision must be a branch or tag (the hub rejects commit ids), then one
 * recursive listing. The snapshot's commit is a digest of that listing (paths, per-file revisions, hashes, sizes):
 * ModelScope publishes no commit id for a branch, and this changes exactly when the files do.
 */
export async function listSnapshot(access: HubAccess, repo: string, revision: string): Promise<Snapshot> {
  const hub = hubClient(MODELSCOPE, access);
  const base = apiBase(access.endpoint, repo);
  const ctx: MsErrorContext = { repo, revision, hasToken: Boolean(access.token) };
  const revisions = await listRevisions(hub, base, ctx);
  const found = revisions.find((r) => r.name === revision);
  if (!found) {
    const names = revisions.map((r) => r.name);
    throw new HubError(
      `ModelScope has no branch or tag "${revision}" for ${repo}` +
        (/^[0-9a-f]{40}$/.test(revision) ? " (ModelScope downloads by branch or tag, not by commit id)" : "") +
        `. It has: ${names.length ? names.slice(0, 8).join(", ") + (names.length > 8 ? `, … (${names.length} in all)` : "") : "none"}. ` +
        `Pick one with --revision or the model's "revision".`,
      { status: 404, code: "RevisionNotFound" },
    );
  }
  const url = `${base}/repo/files?Revision=${quotePlus(revision)}&Recursive=True`;
  const data = (await getData(hub, url, ctx)) as { Files?: unknown } | null;
  const entries = Array.isArray(data?.Files) ? (data.Files as MsFileEntry[]) : [];
  const files: ResolvedFile[] = [];
  for (const e of entries) {
    if (e?.Type === "tree") continue;
    if (typeof e?.Path !== "string" || !Number.isSafeInteger(e.Size)) {
      throw new HubError(`ModelScope listed a file without a usable Path/Size in ${repo}@${revision} (${redactUrl(url)}).`, { url: redactUrl(url) });
    }
    if (SKIPPED.has(posix.basename(e.Path))) continue;
    const sha256 = typeof e.Sha256 === "string" && SHA256.test(e.Sha256.toLowerCase()) ? e.Sha256.toLowerCase() : undefined;
    files.push({
      path: e.Path,
      size: e.Size as number,
      ...(sha256 ? { sha256 } : {}),
      ...(typeof e.Revision === "string" && e.Revision ? { fileRevision: e.Revision } : {}),
      url: `${base}/repo?Revision=${quotePlus(revision)}&FilePath=${quotePlus(e.Path)}`,
      headers: { ...hub.credentials },
    });
  }
  if (files.length === 0) {
    throw new HubError(
      `ModelScope lists no files for ${repo}@${revision}: the model is empty at this revision. ` +
        `Check the id and revision on ${access.endpoint}/models/${repo}.`,
      { url: redactUrl(url) },
    );
  }
  const identity = files.map((f) => [f.path, f.fileRevision ?? "", f.sha256 ?? "", f.size].join("\0")).sort().join("\n");
  const commit = createHash("sha1").update(`${repo}\n${identity}`).digest("hex");
  return { revision, commit, files, createdAt: found.createdAt };
}
