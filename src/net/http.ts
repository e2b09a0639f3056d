import type { Dispatcher } from "undici";
import { request } from "./undici.ts";
import { HubError } from "../errors.ts";
import { redactUrl } from "../util/index.ts";
import type { FailedResponse } from "../types.ts";

const SENSITIVE = /^(authorization|cookie)$/i;
const MAX_REDIRECTS = 10;

/** The headers without credentials: what may go to another origin (a signed CDN URL carries its own). */
export function withoutCredentials(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !SENSITIVE.test(k)));
}

export interface Redirect {
  /** The URL the request was first sent to: its origin is the one credentials may go to. */
  start: string;
  /** The URL that answered with the redirect. */
  current: string;
  /** Its `Location` header. */
  location: string;
  /** The headers sent to `current`. */
  headers: Record<string, string>;
  /** Redirects followed so far. */
  hop: number;
}

/**
 * Where a redirect goes, by the rules every request here follows: a relative `Location` is
 * resolved against the current URL; only http(s), at most 10 hops; credentials are dropped once a hop leaves the
 * origin of `start`.
 */
export function nextHop({ start, current, location, headers, hop }: Redirect): { url: string; headers: Record<string, string> } {
  if (hop >= MAX_REDIRECTS) {
    throw new HubError(`Too many redirects (more than ${MAX_REDIRECTS}) starting at ${redactUrl(start)}`, { url: redactUrl(start) });
  }
  const next = new URL(location, current);
  if (next.protocol !== "https:" && next.protocol !== "http:") {
    throw new HubError(`Refusing a redirect to a ${next.protocol} URL (from ${redactUrl(current)})`, { url: redactUrl(current) });
  }
  return { url: next.href, headers: next.origin === new URL(start).origin ? headers : withoutCredentials(headers) };
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The URL that answered, after redirects. */
  url: string;
  body: Dispatcher.ResponseData["body"];
}

export interface HttpOptions {
  method?: "GET" | "HEAD";
  headers?: Record<string, string>;
  dispatcher: Dispatcher;
  signal?: AbortSignal;
}

export function header(headers: HttpResponse["headers"], name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * One HTTP request that follows redirects itself: a relative `Location` is resolved against the
 * request URL, and `Authorization`/`Cookie` are dropped as soon as a hop leaves the original origin (signed CDN URLs).
 */
export async function httpRequest(url: string, options: HttpOptions): Promise<HttpResponse> {
  let current = url;
  let headers = { ...options.headers };
  for (let hop = 0; ; hop++) {
    const res = await request(current, {
      method: options.method ?? "GET",
      headers,
      dispatcher: options.dispatcher,
      signal: options.signal,
    });
    const location = header(res.headers, "location");
    if (res.statusCode < 300 || res.statusCode >= 400 || res.statusCode === 304 || !location) {
      return { status: res.statusCode, headers: res.headers, url: current, body: res.body };
    }
    await res.body.dump();
    ({ url: current, headers } = nextHop({ start: url, current, location, headers, hop }));
  }
}

/** Read what a failed answer says (at most 4 KiB) so it can be explained. */
export async function failedResponse(res: HttpResponse): Promise<FailedResponse> {
  let body = "";
  try {
    for await (const chunk of res.body) {
      body += (chunk as Buffer).toString("utf8");
      if (body.length >= 4096) break;
    }
  } catch {
    // the body is only used for the message
  }
  res.body.on("error", () => {}); // destroying an unread body emits an abort error nobody else listens for
  res.body.destroy();
  return { status: res.status, headers: res.headers, url: res.url, body: body.slice(0, 4096) };
}

/** Seconds to wait, from `Retry-After` (seconds or HTTP date) or `RateLimit: "…";r=0;t=N`. */
export function retryAfterMs(headers: FailedResponse["headers"], now = Date.now()): number | undefined {
  const ra = header(headers, "retry-after");
  if (ra) {
    const secs = Number(ra);
    if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
    const date = Date.parse(ra);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  const rl = header(headers, "ratelimit");
  const t = rl?.match(/(?:^|;)\s*t=(\d+)/);
  return t ? Number(t[1]) * 1000 : undefined;
}

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}
