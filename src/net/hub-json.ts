import type { Dispatcher } from "undici";
import { HubError } from "../errors.ts";
import type { FailedResponse } from "../types.ts";
import { redactUrl } from "../util/index.ts";
import { readCapped, withRetries, type ApiWait } from "./api-call.ts";
import { failedResponse, httpRequest, type HttpResponse } from "./http.ts";

/** What differs between the hubs for the JSON client: how they are named, pointed at and given a token. */
export interface HubProfile {
  /** The hub's name in messages: "HuggingFace". */
  name: string;
  /** The setting that points at the hub, named when an answer is not one such a hub sends: "HF_ENDPOINT". */
  endpointVar: string;
  /** The headers that carry a token to this hub. */
  credentials(token: string): Record<string, string>;
}

/** One resolve's access to a hub: where, with which token, through which pool, until when, and who hears of waits. */
export interface HubAccess {
  endpoint: string;
  token?: string;
  dispatcher: Dispatcher;
  signal?: AbortSignal;
  /** Told of every wait before a retry (rate limit, no answer, 5xx), so the user sees why nothing moves. */
  onWait?: (wait: ApiWait) => void;
  /** @default API_STALL_MS */
  stallMs?: number;
}

export interface HubJsonRequest {
  url: string;
  /** What is asked for, in messages: "a tree listing", "an answer". */
  what: string;
  /** Whose, in messages: "acme/x@main". */
  of: string;
  /** The hub's own reading of a failed answer: missing, private, gated, rate limited (each hub says these its way). */
  failure(response: FailedResponse): HubError;
}

export interface HubJsonAnswer {
  json: unknown;
  headers: HttpResponse["headers"];
  /** The URL that answered, after redirects. */
  url: string;
}

/** The one way this tool asks a hub for JSON: HuggingFace and ModelScope alike. */
export interface HubClient {
  /** The token's headers, for requests to the hub's own origin (file requests carry them too). */
  readonly credentials: Record<string, string>;
  /** One JSON answer (HTTP 200), with the retry, stall, size and redirect rules of every API call. */
  json(request: HubJsonRequest): Promise<HubJsonAnswer>;
  /** Every page of an answer that continues through `Link: <…>; rel="next"`, first to last. */
  pages(request: HubJsonRequest): AsyncGenerator<HubJsonAnswer>;
}

/** The next page a `Link` header names (`<url>; rel="next"`), resolved against the page that named it. */
export function nextPageUrl(headers: HttpResponse["headers"], base: string): string | undefined {
  const links = [headers["link"] ?? []].flat().join(",");
  for (const part of links.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    const rel = m ? /(?:^|;)\s*rel\s*=\s*"?([^";]*)"?/i.exec(m[2]!)?.[1] : undefined;
    if (m && rel?.split(/\s+/).includes("next")) return new URL(m[1]!, base).href;
  }
  return undefined;
}

const originOf = (url: string) => new URL(url).origin;

/**
 * The client for one hub and one resolve. Every call gets the same rules: up to 4 attempts with the backoff and
 * Retry-After rules of `withRetries`, the stall watchdog, a 64 MiB cap on the answer, redirects followed by
 * `httpRequest`'s rules, URLs redacted in messages, and the token sent to the hub's own origin only (a redirect or
 * a next page elsewhere is asked without it). What a failed answer means stays the hub's: `request.failure`.
 */
export function hubClient(hub: HubProfile, access: HubAccess): HubClient {
  const credentials = access.token ? hub.credentials(access.token) : {};
  const hubOrigin = originOf(access.endpoint);
  const retry = { signal: access.signal, onWait: access.onWait, stallMs: access.stallMs };

  const json = (request: HubJsonRequest): Promise<HubJsonAnswer> => {
    const { url } = request;
    const headers = { accept: "application/json", ...(originOf(url) === hubOrigin ? credentials : {}) };
    return withRetries(retry, url, async (attempt) => {
      const res = await httpRequest(url, { headers, dispatcher: access.dispatcher, signal: attempt.signal });
      if (res.status !== 200) throw request.failure(await failedResponse(res));
      const text = await readCapped(res.body, url, attempt);
      try {
        return { json: JSON.parse(text) as unknown, headers: res.headers, url: res.url };
      } catch {
        throw new HubError(
          `${hub.name} sent ${request.what} that is not JSON for ${request.of} (${redactUrl(url)}). Is ${hub.endpointVar} a ${hub.name} hub?`,
          { url: redactUrl(url) },
        );
      }
    });
  };

  async function* pages(request: HubJsonRequest): AsyncGenerator<HubJsonAnswer> {
    const seen = new Set<string>();
    for (let url: string | undefined = request.url; url !== undefined; ) {
      if (!/^https?:$/.test(new URL(url).protocol)) {
        throw new HubError(`${hub.name} named a next page of ${request.what} for ${request.of} that is not an http(s) URL (${redactUrl(url)}).`, { url: redactUrl(url) });
      }
      if (seen.has(url)) {
        throw new HubError(`${hub.name}'s pages of ${request.what} for ${request.of} loop back to ${redactUrl(url)}; refusing to go round.`, { url: redactUrl(url) });
      }
      seen.add(url);
      const answer = await json({ ...request, url });
      yield answer;
      url = nextPageUrl(answer.headers, answer.url);
    }
  }

  return { credentials, json, pages };
}
