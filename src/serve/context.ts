import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { HubKind, StoredCommit, StoredRepo } from "./store-view.ts";
import { sendJson } from "./send.ts";

/** What a protocol handler needs from the server: the store as it is now, and the miss path. */
export interface ServeContext {
  /** The repo as the store (or, with pull-through, the upstream) knows it; undefined when neither does. */
  repo(kind: HubKind, id: string, revision?: string): Promise<StoredRepo | undefined>;
  /** Is a repo of that id stored (for the bare-name vs org/name reading of a path)? */
  hasRepo(kind: HubKind, id: string): Promise<boolean>;
  /**
   * Pull-through: fetch one listed file into the store (verified), then give its stored entry; undefined without
   * pull-through. Throws an UpstreamError when the upstream refuses or is unreachable.
   */
  fetchFile?(file: { repo: StoredRepo; revision: string; commit: StoredCommit; path: string }): Promise<StoredRepo | undefined>;
  /** Base of every absolute URL the server emits (pagination links). */
  publicUrl(req: IncomingMessage): string;
  /** Tree listing page size. */
  pageSize: number;
  /** Auth is on: commit-addressed answers are `private` to caches. */
  authenticated: boolean;
}

/** One request as a protocol handler sees it: `segs` are the path's decoded segments. */
export interface HubCall {
  req: IncomingMessage;
  res: ServerResponse;
  segs: string[];
  url: URL;
}

/** An upstream answer to pass on (pull-through): its status and error code, or 504 when it could not be reached. */
export class UpstreamError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code?: string,
  ) {
    super(message);
  }
}

const COMMIT = /^[0-9a-f]{40}$/;

/** Revision name → commit: a commit the store holds is itself; else a recorded ref; none or `HEAD` is `main`. */
export function resolveRevision(repo: StoredRepo, revision: string | undefined, defaultRevision: string): string | undefined {
  const rev = revision === undefined || revision === "HEAD" ? defaultRevision : revision;
  if (COMMIT.test(rev) && repo.commits.has(rev)) return rev;
  return repo.refs.get(rev);
}

/** Commit-addressed answers never change; branch-addressed ones may move any time. */
export function cacheControl(revision: string | undefined, authenticated: boolean): string {
  return revision !== undefined && COMMIT.test(revision) ? `${authenticated ? "private" : "public"}, max-age=31536000, immutable` : "no-cache";
}

export interface HfErrorAnswer {
  status: number;
  /** `X-Error-Code`, e.g. `RepoNotFound`. */
  code?: string | undefined;
  message: string;
  headers?: OutgoingHttpHeaders;
}

/** The HF error shape: status, `X-Error-Code` (decides the client's exception), message in body and header. */
export function hfError(res: ServerResponse, { status, code, message, headers = {} }: HfErrorAnswer): void {
  const errorHeaders = {
    ...(code ? { "x-error-code": code } : {}),
    "x-error-message": message.replace(/[^\x20-\x7e]/g, "?"),
    "cache-control": "no-store",
    ...headers,
  };
  sendJson(res, { status, body: { error: message }, headers: errorHeaders });
}

/** Case-insensitive booleans: httpx sends `true`, requests `True`. */
export function queryFlag(value: string | null): boolean {
  return value !== null && value.toLowerCase() === "true";
}

/** Read a request body up to `limit` bytes; undefined when it is larger. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** Repo ids as the hub validates them: `[\w.-]` segments, at most one `/`, ≤ 96 chars, no `--` or `..`. */
export function validRepoId(id: string): boolean {
  return /^[\w.-]+(\/[\w.-]+)?$/.test(id) && id.length <= 96 && !id.includes("--") && !id.includes("..") && !/(^|\/)[.-]|[.-]($|\/)/.test(id);
}

/** A listed path a client may ask for: relative, no `.`/`..` segments, no backslash, NUL or drive prefix. */
export function validFilePath(path: string): boolean {
  if (path.length === 0 || path.length > 4096 || path.startsWith("/") || /[\\\0]/.test(path) || /^[A-Za-z]:/.test(path)) return false;
  return path.split("/").every((s) => s !== "" && s !== "." && s !== "..");
}
