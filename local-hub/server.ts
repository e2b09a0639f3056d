import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { handleCdn } from "./cdn.ts";
import { repoKey, type HubContext } from "./context.ts";
import { handleHuggingFace } from "./hf/huggingface.ts";
import { handleModelScope } from "./ms/modelscope.ts";
import { seededRandom, type Fault, type FaultMix } from "./faults.ts";
import { sendHubError } from "./reply.ts";
import { ConnectionShaper, type ConnectionRecord } from "./throttle.ts";
import type { HubFile, HubRepo } from "./repo.ts";

export const DEFAULT_TOKEN = "hf_local_test_token";

export type ListenerName = "hub" | "cdn";

export interface LocalHubOptions {
  repos: HubRepo[];
  /**
   * Tokens accepted as valid: HF reads `Authorization: Bearer <token>`, ModelScope that or
   * `Cookie: m_session_id=<token>`. @default ["hf_local_test_token"]
   */
  tokens?: string[];
  /** Tokens that accepted the conditions of gated repos. @default tokens */
  gatedAcceptedTokens?: string[];
  /** Tree listing page size. @default 50 */
  pageSize?: number;
  /** Cap on file bodies per TCP connection, in bytes per second. @default unlimited */
  bandwidthPerConnection?: number;
  /**
   * Share (0..1) of the connections that get `slowBandwidthPerConnection` instead of `bandwidthPerConnection`,
   * like CDN edges that give some connections far less than others. Counted over the connections of both
   * listeners in the order they carry their first file body, spread evenly (0.25 → the 4th, 8th, … connection),
   * so a rerun sees the same pattern. @default 0
   */
  slowConnectionShare?: number;
  /** Cap of a slow connection, bytes per second; required when `slowConnectionShare` > 0. */
  slowBandwidthPerConnection?: number;
  /** Failures injected into file responses, by probability (see FaultMix). */
  faults?: FaultMix;
  /**
   * Delay added before answering every request (API, resolve and CDN alike, each request on a keep-alive
   * connection too), in milliseconds: a round trip to a distant hub. @default 0
   */
  latencyMs?: number;
  /** Runs first on every request; return true when it answered the request itself (fault injection, 429, …). */
  intercept?: (req: IncomingMessage, res: ServerResponse, server: ListenerName) => boolean;
}

export interface RequestRecord {
  server: ListenerName;
  method: string;
  /** Path and query. */
  path: string;
  authorization: string | undefined;
  /** The `Cookie` header, where ModelScope clients put `m_session_id=<token>`. */
  cookie: string | undefined;
  range: string | undefined;
  /** Status sent; 0 while no header was sent yet. */
  status: number;
}

export interface LocalHub {
  /** Hub origin, e.g. `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** A second listener, hence a different origin, standing in for the CDN. */
  readonly cdnUrl: string;
  readonly requests: RequestRecord[];
  /** File body bytes written by both listeners. */
  readonly bytesServed: number;
  /** Connections that carried a file body, and how many of them were slow (`slowConnectionShare`). */
  readonly connectionStats: { connections: number; slowConnections: number };
  /** Every capped connection so far: slow or not, bodies and bytes it carried (how a client used them). */
  readonly connectionLog: readonly ConnectionRecord[];
  /** How many times each injected fault was served. */
  readonly faultCounts: ReadonlyMap<Fault, number>;
  /** Adds the repo, or replaces the one with the same id. */
  addRepo(repo: HubRepo): void;
  resetStats(): void;
  /** Closes both listeners and drops open connections, so tests never hang. */
  close(): Promise<void>;
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve(`http://127.0.0.1:${port}`);
    });
  });
}

function shutdown(server: Server): Promise<void> {
  return new Promise((resolve) => {
    // The callback gets an error when already closed; closing twice is fine here.
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

// Node sends every header block through writeHead (also implicitly from write/end), so this sees every status.
function recordStatus(res: ServerResponse, record: RequestRecord): void {
  const writeHead = res.writeHead;
  res.writeHead = function (this: ServerResponse, statusCode: number, ...rest: unknown[]) {
    record.status = statusCode;
    return Reflect.apply(writeHead, this, [statusCode, ...rest]) as ServerResponse;
  } as ServerResponse["writeHead"];
}

export async function startLocalHub(opts: LocalHubOptions): Promise<LocalHub> {
  const repos = new Map<string, HubRepo>(opts.repos.map((repo) => [repoKey(repo.source, repo.id), repo]));
  const tokens = opts.tokens ?? [DEFAULT_TOKEN];
  const requests: RequestRecord[] = [];
  const faultCounts = new Map<Fault, number>();
  let bytesServed = 0;
  const shaper = new ConnectionShaper(opts);
  const ctx: HubContext = {
    hubUrl: "",
    cdnUrl: "",
    repos,
    tokens: new Set(tokens),
    gatedAcceptedTokens: new Set(opts.gatedAcceptedTokens ?? tokens),
    pageSize: opts.pageSize ?? 50,
    signedUrls: new Map<string, HubFile>(),
    countBytes: (bytes) => {
      bytesServed += bytes;
    },
    shaper,
    ...(opts.faults
      ? { faults: { mix: opts.faults, random: seededRandom(opts.faults.seed ?? 1), count: (f: Fault) => faultCounts.set(f, (faultCounts.get(f) ?? 0) + 1) } }
      : {}),
  };

  const onRequest = (server: ListenerName) => (req: IncomingMessage, res: ServerResponse) => {
    const record: RequestRecord = {
      server,
      method: req.method ?? "GET",
      path: req.url ?? "/",
      authorization: req.headers.authorization,
      cookie: req.headers.cookie,
      range: req.headers.range,
      status: 0,
    };
    requests.push(record);
    recordStatus(res, record);
    if (opts.latencyMs) setTimeout(() => answer(server, req, res), opts.latencyMs);
    else answer(server, req, res);
  };

  const answer = (server: ListenerName, req: IncomingMessage, res: ServerResponse) => {
    try {
      if (opts.intercept?.(req, res, server)) return;
      const handled =
        server === "hub" ? handleHuggingFace(req, res, ctx) || handleModelScope(req, res, ctx) : handleCdn(req, res, ctx);
      if (!handled) sendHubError(res, 404, "Not Found");
    } catch (error) {
      if (res.headersSent) res.destroy();
      else sendHubError(res, 500, `Local hub failure: ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  const hubServer = createServer({ keepAlive: true }, onRequest("hub"));
  const cdnServer = createServer({ keepAlive: true }, onRequest("cdn"));
  ctx.hubUrl = await listen(hubServer);
  ctx.cdnUrl = await listen(cdnServer);

  return {
    url: ctx.hubUrl,
    cdnUrl: ctx.cdnUrl,
    requests,
    get bytesServed() {
      return bytesServed;
    },
    get connectionStats() {
      return shaper.stats;
    },
    get connectionLog() {
      return shaper.log;
    },
    faultCounts,
    addRepo(repo) {
      repos.set(repoKey(repo.source, repo.id), repo);
    },
    resetStats() {
      requests.length = 0;
      bytesServed = 0;
    },
    async close() {
      await Promise.all([shutdown(hubServer), shutdown(cdnServer)]);
    },
  };
}
