import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { operationOf, runOperation, type ListingFault, type OpContext, type S3Operation } from "./ops.ts";
import { checkSignature, type S3Credentials } from "./sigv4.ts";
import { S3Store } from "./store.ts";
import { sendS3Error } from "./xml.ts";

export type { ListingFault, S3Operation } from "./ops.ts";
export type { S3Credentials } from "./sigv4.ts";

/** Answer the next `times` requests of `operation` (optionally only for `key`) with `status` instead. */
export interface S3ErrorFault {
  operation: S3Operation;
  /** 500/502/503/504, Cloudflare's 520–524, 507… */
  status: number;
  times: number;
  key?: string;
}

/** Failures to inject; the server reads them on every request, so a test may change them while it runs. */
export interface S3Faults {
  errors: S3ErrorFault[];
  /** After each CompleteMultipartUpload, that many HEADs of the key answer 404. @default 0 */
  headMissesAfterComplete: number;
  /** Breaks flat (no delimiter) listings from their second page on. */
  listingFault?: ListingFault;
  /** Total stored bytes (objects and staged parts) before writes answer 507. @default Infinity */
  byteBudget: number;
  /** The next that many UploadParts store the body with its first byte flipped (and that MD5 as ETag). @default 0 */
  corruptParts: number;
  /** CompleteMultipartUpload merges, then waits this long before answering (a proxy slower than the client). @default 0 */
  completeReplyDelayMs: number;
  /** Delay before answering each request of an operation, in milliseconds. */
  delayMs: Partial<Record<S3Operation, number>>;
}

export interface S3ServerOptions {
  buckets: string[];
  /** The one key pair accepted; anything else fails the way S3 does. */
  credentials: S3Credentials;
  /** Where objects are stored. @default a new temp directory, removed on close */
  dir?: string;
  /** Largest listing page. @default 1000 */
  maxKeys?: number;
  /** The server's clock minus the real one. @default 0 */
  clockOffsetMs?: number;
  /** Send the server's clock in `Date` (lets the SDK correct its clock offset). @default true */
  advertiseClock?: boolean;
  /** Largest accepted difference between request time and server time (RunPod: one hour). @default 3_600_000 */
  maxSkewMs?: number;
  /** How a request outside that skew is refused: AWS's RequestTimeTooSkewed, or RunPod's plain 403 AccessDenied. @default "RequestTimeTooSkewed" */
  skewAnswer?: "RequestTimeTooSkewed" | "AccessDenied";
  faults?: Partial<S3Faults>;
}

export interface S3RequestRecord {
  method: string;
  operation: S3Operation;
  bucket: string;
  key: string;
  /** Request body bytes received. */
  bytes: number;
  /** Status sent; 0 while none was sent yet. */
  status: number;
}

export interface LocalS3 {
  /** Endpoint origin, e.g. `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly store: S3Store;
  readonly faults: S3Faults;
  readonly requests: S3RequestRecord[];
  /** Requests of one operation so far. */
  count(operation: S3Operation): number;
  /** Body bytes received by writes (PutObject and UploadPart). */
  bytesReceived(): number;
  resetStats(): void;
  /** Copy a bucket to a directory tree, as a Pod would see the volume. */
  materialize(bucket: string, dir: string): Promise<void>;
  close(): Promise<void>;
}

function parseTarget(rawUrl: string): { bucket: string; key: string; query: URLSearchParams } {
  const [path = "/", query = ""] = rawUrl.split("?", 2) as [string, string?];
  const segments = path.split("/").slice(1);
  const bucket = decodeURIComponent(segments[0] ?? "");
  const key = segments.slice(1).map(decodeURIComponent).join("/");
  return { bucket, key, query: new URLSearchParams(query) };
}

function takeError(faults: S3Faults, op: S3Operation, key: string): number | undefined {
  const fault = faults.errors.find((f) => f.operation === op && f.times > 0 && (f.key === undefined || f.key === key));
  if (!fault) return undefined;
  fault.times--;
  return fault.status;
}

// A proxy in front of the store answers these, so the body is HTML rather than S3 XML.
function sendInjected(res: ServerResponse, status: number): void {
  const body = `<html><body><h1>${status}</h1>injected failure</body></html>`;
  if (status === 507) return sendS3Error(res, "PUT", 507, "InsufficientStorage", "Insufficient storage space on the volume.");
  res.writeHead(status, { "content-type": "text/html", "content-length": String(body.length) }).end(body);
}

function drain(req: IncomingMessage, record: S3RequestRecord): Promise<void> {
  return new Promise((resolve) => {
    req.on("data", (chunk: Buffer) => (record.bytes += chunk.length));
    req.on("end", resolve).on("error", () => resolve());
  });
}

interface ServerState {
  opts: S3ServerOptions;
  store: S3Store;
  faults: S3Faults;
  headMisses: Map<string, number>;
  now: () => number;
}

// Order as on RunPod: the proxy (delays, injected 5xx) first, then authentication, then the store.
async function answer(state: ServerState, req: IncomingMessage, res: ServerResponse, record: S3RequestRecord): Promise<void> {
  const { opts, store, faults, headMisses, now } = state;
  const rawUrl = req.url ?? "/";
  const { bucket, key, query } = parseTarget(rawUrl);
  const method = req.method ?? "GET";
  const op = operationOf(method, key, query, bucket !== "");
  Object.assign(record, { operation: op, bucket, key });
  if (opts.advertiseClock === false) res.sendDate = false;
  else res.setHeader("date", new Date(now()).toUTCString());

  const delay = faults.delayMs[op];
  if (delay) await new Promise((r) => setTimeout(r, delay));
  const injected = takeError(faults, op, key);
  if (injected !== undefined) {
    await drain(req, record);
    return sendInjected(res, injected);
  }
  const authFailure = checkSignature({ method, rawUrl, headers: req.headers }, opts.credentials, now(), opts.maxSkewMs ?? 3_600_000);
  if (authFailure) {
    await drain(req, record);
    const code = authFailure.code === "RequestTimeTooSkewed" && opts.skewAnswer === "AccessDenied" ? "AccessDenied" : authFailure.code;
    return sendS3Error(res, method, authFailure.status, code, code === "AccessDenied" ? "Access Denied" : authFailure.message);
  }
  if (req.headers["content-encoding"]?.includes("aws-chunked")) {
    await drain(req, record);
    return sendS3Error(res, method, 501, "NotImplemented", "aws-chunked uploads are not supported by this store.");
  }
  if (op === "ListBuckets") return sendS3Error(res, method, 501, "NotImplemented", "ListBuckets is not needed here.");
  if (!store.buckets.has(bucket)) {
    await drain(req, record);
    return sendS3Error(res, method, 404, "NoSuchBucket", "The specified bucket does not exist.", `/${bucket}`);
  }
  const signedHash = String(req.headers["x-amz-content-sha256"]);
  const ctx: OpContext = {
    store, req, res, bucket, key, query, headMisses,
    countBytes: (bytes) => (record.bytes += bytes),
    maxKeys: opts.maxKeys ?? 1000,
    listingFault: faults.listingFault,
    headMissesAfterComplete: faults.headMissesAfterComplete,
    completeReplyDelayMs: faults.completeReplyDelayMs,
    takeCorruption: () => faults.corruptParts > 0 && faults.corruptParts-- > 0,
    byteBudget: faults.byteBudget,
    payloadMatches: (sha256) => {
      if (!/^[0-9a-f]{64}$/.test(signedHash) || signedHash === sha256) return true;
      sendS3Error(res, method, 400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.");
      return false;
    },
  };
  await runOperation(op, ctx);
}

/** An S3-compatible endpoint on 127.0.0.1 with RunPod's subset of operations, real SigV4 checks and fault injection. */
export async function startLocalS3(opts: S3ServerOptions): Promise<LocalS3> {
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), "dm-s3-")));
  const store = new S3Store(dir, opts.buckets);
  const faults: S3Faults = { errors: [], headMissesAfterComplete: 0, completeReplyDelayMs: 0, corruptParts: 0, byteBudget: Infinity, delayMs: {}, ...opts.faults };
  const requests: S3RequestRecord[] = [];
  const headMisses = new Map<string, number>();
  const now = (): number => Date.now() + (opts.clockOffsetMs ?? 0);
  const state: ServerState = { opts, store, faults, headMisses, now };

  const server = createServer({ keepAlive: true }, (req, res) => {
    const record: S3RequestRecord = { method: req.method ?? "GET", operation: "Unknown", bucket: "", key: "", bytes: 0, status: 0 };
    requests.push(record);
    res.on("finish", () => (record.status = res.statusCode));
    answer(state, req, res, record).catch((error: unknown) => {
      if (res.headersSent) res.destroy();
      else sendS3Error(res, req.method ?? "GET", 500, "InternalError", error instanceof Error ? error.message : String(error));
    });
  });
  const url = await new Promise<string>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });

  return {
    url,
    store,
    faults,
    requests,
    count: (operation) => requests.filter((r) => r.operation === operation).length,
    bytesReceived: () => requests.filter((r) => r.operation === "PutObject" || r.operation === "UploadPart").reduce((sum, r) => sum + r.bytes, 0),
    resetStats: () => void (requests.length = 0),
    materialize: (bucket, target) => store.materialize(bucket, target),
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}
