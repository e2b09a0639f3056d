import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { builtinDownloaders, createRegistry, type Registry } from "../sources/index.ts";
import type { Env, Roots } from "../store/index.ts";
import type { DownloadEvent } from "../download/index.ts";
import { readLock, type Lock } from "../lockfile/index.ts";
import { readStoreView, repoKey, type HubKind, type StoredRepo, type StoreView } from "./store-view.ts";
import { hfError, resolveRevision, type ServeContext } from "./context.ts";
import { handleHuggingFace } from "./hf.ts";
import { handleModelScope } from "./ms.ts";
import { createPullThrough, type PullThrough } from "./pull.ts";

export type { HubKind } from "./store-view.ts";

export type ServeEvent =
  | { type: "listening"; url: string; repos: number; warnings: string[] }
  | { type: "request"; id: string; method: string; path: string; status: number; bytes: number; ms: number }
  | { type: "upstream"; event: DownloadEvent }
  | { type: "upstream-error"; repo: string; message: string }
  | { type: "error"; message: string }
  | { type: "closed" };

export interface MirrorOptions {
  roots: Roots;
  /** Downloaders (custom ones too) whose stores are read. @default the built-in HuggingFace and ModelScope */
  registry?: Registry;
  /** @default "127.0.0.1" */
  host?: string;
  /** 0 picks a free port. @default 0 */
  port?: number;
  /** Serve exactly the (repo, revision → commit) pairs this lockfile pins, and nothing else. */
  lockfile?: string;
  /** Pull-through: the upstream hub per protocol (a miss there is downloaded, verified, stored, then served). */
  upstream?: Partial<Record<HubKind, string>>;
  /** Pull-through: repo globs that may be fetched. @default every repo */
  upstreamAllow?: string[];
  /** Pull-through: send the server's own token upstream (gated/private repos become readable by every client). */
  allowPrivate?: boolean;
  /** The server's environment (upstream token). @default {} */
  env?: Env;
  /** Bearer token(s) clients must send (`Authorization: Bearer …`, or ModelScope's `m_session_id` cookie). */
  token?: string | string[];
  /** Base of absolute URLs the server emits. @default scheme + Host of each request */
  publicUrl?: string;
  /** Tree listing page size. @default 10000 */
  pageSize?: number;
  signal?: AbortSignal;
  onEvent?: (event: ServeEvent) => void;
}

export interface Mirror {
  url: string;
  /** Stop accepting, end open connections, wait for running upstream fetches to settle. */
  close(): Promise<void>;
}

/** How long a read of the store stays current: new downloads and moved refs show up within this. */
const VIEW_TTL_MS = 1000;
const MAX_URL = 8192;
const MAX_CONNECTIONS_PER_IP = 256;

/** A mirror token as the JS client accepts it (it refuses tokens not starting with `hf_`). */
export function generateToken(): string {
  return `hf_${randomBytes(24).toString("base64url")}`;
}

const digest = (s: string) => createHash("sha256").update(s).digest();

function presentedToken(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth && /^bearer\s+/i.test(auth)) return auth.replace(/^bearer\s+/i, "").trim();
  const cookie = req.headers.cookie;
  const m = cookie ? /(?:^|;\s*)m_session_id=([^;]+)/.exec(cookie) : null;
  return m?.[1];
}

/**
 * Serve the store's complete models to unmodified HuggingFace and ModelScope clients (set HF_ENDPOINT /
 * MODELSCOPE_ENDPOINT to the returned url). Read-only unless `upstream` is given; binds loopback by default.
 */
export async function startMirror(options: MirrorOptions): Promise<Mirror> {
  const registry = options.registry ?? createRegistry(builtinDownloaders);
  const emit = (e: ServeEvent) => options.onEvent?.(e);
  const lock: Lock | undefined = options.lockfile ? await readLock(options.lockfile) : undefined;
  const tokens = (Array.isArray(options.token) ? options.token : options.token ? [options.token] : []).map(digest);
  const pull: PullThrough | undefined =
    options.upstream && Object.values(options.upstream).some(Boolean) && !lock
      ? createPullThrough({
          upstream: options.upstream, registry, roots: options.roots, env: options.env ?? {},
          ...(options.upstreamAllow ? { allow: options.upstreamAllow } : {}),
          allowPrivate: Boolean(options.allowPrivate),
          ...(options.signal ? { signal: options.signal } : {}),
          onEvent: emit,
        })
      : undefined;

  let view: { at: number; value: Promise<StoreView> } | undefined;
  let refreshing: Promise<unknown> | undefined;
  const read = () => {
    const value = readStoreView(registry, options.roots, lock);
    const next = { at: Date.now(), value };
    return value.then(() => (view = next), () => {});
  };
  // A stale view keeps answering while the next one is read (no request waits for a rescan), except after a
  // pull-through download, which must see its own file.
  const currentView = async (fresh = false): Promise<StoreView> => {
    if (!view || fresh) {
      const value = readStoreView(registry, options.roots, lock);
      view = { at: Date.now(), value };
      value.catch(() => {
        if (view?.value === value) view = undefined;
      });
      return value;
    }
    if (Date.now() - view.at > VIEW_TTL_MS && !refreshing) refreshing = read().finally(() => (refreshing = undefined));
    return view.value;
  };
  /** Exact id first, then a unique case-insensitive match (served directly, no redirect). */
  const storedRepo = async (kind: HubKind, id: string, fresh = false): Promise<StoredRepo | undefined> => {
    const v = await currentView(fresh);
    const exact = v.repos.get(repoKey(kind, id));
    if (exact) return exact;
    const lower = repoKey(kind, id).toLowerCase();
    const matches = [...v.repos.entries()].filter(([k]) => k.toLowerCase() === lower);
    return matches.length === 1 ? matches[0]![1] : undefined;
  };
  const COMMIT = /^[0-9a-f]{40}$/;
  const ctx: ServeContext = {
    pageSize: options.pageSize ?? 10_000,
    authenticated: tokens.length > 0,
    hasRepo: async (kind, id) => (await storedRepo(kind, id)) !== undefined,
    async repo(kind, id, revision) {
      const stored = await storedRepo(kind, id);
      if (!pull || !pull.enabled(kind, id)) return stored;
      // A commit the store holds never changes: no upstream question.
      if (stored && revision !== undefined && COMMIT.test(revision) && stored.commits.has(revision)) return stored;
      let up;
      try {
        up = await pull.snapshot(kind, id, revision);
      } catch (error) {
        // Upstream down: the last known refs of the store still answer.
        if (stored && resolveRevision(stored, revision, kind === "huggingface" ? "main" : "master")) return stored;
        throw error;
      }
      const merged: StoredRepo = stored
        ? { ...stored, refs: new Map(stored.refs), commits: new Map(stored.commits) }
        : { kind, id, refs: new Map(), commits: new Map(), ...(up.createdAt !== undefined ? { createdAt: up.createdAt } : {}) };
      const have = merged.commits.get(up.commit.commit);
      const files = new Map(up.commit.files);
      for (const [p, f] of have?.files ?? []) if (f.disk) files.set(p, { ...files.get(p), ...f });
      merged.commits.set(up.commit.commit, { ...up.commit, files, ...(have?.completedAt ? { completedAt: have.completedAt } : {}) });
      if (up.revision !== up.commit.commit) merged.refs.set(up.revision, up.commit.commit);
      return merged;
    },
    publicUrl: (req) => options.publicUrl ?? `http://${req.headers.host ?? "127.0.0.1"}`,
    ...(pull
      ? {
          async fetchFile({ repo, revision, commit, path }) {
            await pull.fetch({ kind: repo.kind, id: repo.id, revision, commit: commit.commit, path });
            return storedRepo(repo.kind, repo.id, true);
          },
        }
      : {}),
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, requestId: string) => {
    res.setHeader("x-request-id", requestId);
    const rawUrl = req.url ?? "/";
    if (rawUrl.length > MAX_URL) return hfError(res, { status: 414, message: "Request URL too long" });
    if (tokens.length > 0) {
      const given = presentedToken(req);
      if (!given || !tokens.some((t) => timingSafeEqual(t, digest(given)))) {
        return hfError(res, { status: 401, message: "Invalid credentials in Authorization header" });
      }
    }
    let url: URL;
    let segs: string[];
    try {
      url = new URL(rawUrl, "http://mirror");
      // Each segment decoded once: an encoded `/` stays inside its segment; paths are looked up, never joined.
      segs = url.pathname.split("/").slice(1).map((s) => decodeURIComponent(s));
    } catch {
      return hfError(res, { status: 400, message: "Malformed request URL" });
    }
    if (segs.at(-1) === "" && segs.length > 1) segs.pop();
    if (req.method === "OPTIONS" || !["GET", "HEAD", "POST"].includes(req.method ?? "")) {
      return hfError(res, { status: 405, message: "This mirror is read-only", headers: { allow: "GET, HEAD, POST" } });
    }
    const call = { req, res, segs, url };
    if (await handleModelScope(call, ctx)) return;
    if (await handleHuggingFace(call, ctx)) return;
    hfError(res, { status: 404, message: `Not found: ${url.pathname}` });
  };

  const perIp = new Map<string, number>();
  const server = createServer({ requestTimeout: 60_000, headersTimeout: 20_000, keepAliveTimeout: 5_000, maxHeaderSize: 16 * 1024 }, (req, res) => {
    const t0 = performance.now();
    const id = randomBytes(8).toString("hex");
    let bytes = 0;
    const write = res.write;
    res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
      if (chunk && typeof (chunk as Buffer).length === "number") bytes += (chunk as Buffer).length;
      return Reflect.apply(write, this, [chunk, ...rest]) as boolean;
    } as ServerResponse["write"];
    res.on("close", () => {
      // Path only: queries carry no secrets here, but keep the line short.
      const path = (req.url ?? "").slice(0, 300);
      emit({ type: "request", id, method: req.method ?? "?", path, status: res.statusCode, bytes, ms: Math.round(performance.now() - t0) });
    });
    handle(req, res, id).catch((error: unknown) => {
      emit({ type: "error", message: `${req.method} ${(req.url ?? "").slice(0, 300)}: ${(error as Error)?.message ?? String(error)}` });
      if (!res.headersSent) hfError(res, { status: 500, message: "Internal error" });
      else res.destroy();
    });
  });
  server.maxConnections = 4096;
  server.on("connection", (socket: Socket) => {
    const ip = socket.remoteAddress ?? "?";
    const n = (perIp.get(ip) ?? 0) + 1;
    if (n > MAX_CONNECTIONS_PER_IP) {
      socket.destroy();
      return;
    }
    perIp.set(ip, n);
    socket.once("close", () => {
      const left = (perIp.get(ip) ?? 1) - 1;
      if (left <= 0) perIp.delete(ip);
      else perIp.set(ip, left);
    });
  });
  // Malformed HTTP gets a 400 and the socket closed; it never reaches the handler or stops the server.
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    const status = err.code === "HPE_HEADER_OVERFLOW" ? "431 Request Header Fields Too Large" : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? "408 Request Timeout" : "400 Bad Request";
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `http://${host === "0.0.0.0" || host === "[::]" ? "127.0.0.1" : host}:${address.port}`;

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // Bodies still streaming are cut: a client resumes with Range.
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      });
      await pull?.close();
      emit({ type: "closed" });
    })());
  options.signal?.addEventListener("abort", () => void close(), { once: true });

  const first = await currentView();
  emit({ type: "listening", url, repos: first.repos.size, warnings: first.warnings });
  return { url, close };
}
