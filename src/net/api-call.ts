import { HubError } from "../errors.ts";
import { redactUrl } from "./redact.ts";
import { backoffDelay, sleep } from "./backoff.ts";

export const API_ATTEMPTS = 4;
/** No API retry waits longer than this: a hub asking for more makes the call fail with its wait and what to do. */
export const API_MAX_WAIT_MS = 60_000;
/** An API answer that delivers nothing for this long is given up on and retried, as file requests are. */
export const API_STALL_MS = 30_000;
/** An API answer larger than this is refused (a real listing is a few MB even for 10k files). */
export const MAX_JSON_BYTES = 64 * 1024 * 1024;

/** One wait before an API retry, as reported to the user. */
export interface ApiWait {
  /** Why, e.g. "rate limited by the hub", "no answer from https://huggingface.co for 30 s", "HTTP 503". */
  reason: string;
  delayMs: number;
  /** The attempt about to be made (2 for the first retry) of `attempts`. */
  attempt: number;
  attempts: number;
}

export interface ApiCallOptions {
  signal?: AbortSignal;
  onWait?: (wait: ApiWait) => void;
  /** @default API_STALL_MS */
  stallMs?: number;
}

/** Given to each attempt: its own signal (the run's, or the stall watchdog's), and the watchdog to feed. */
export interface Attempt {
  signal: AbortSignal;
  /** Data arrived: the stall clock starts over. */
  alive(): void;
}

class Stalled extends Error {}

/** Read a JSON API body as text, refusing one larger than MAX_JSON_BYTES; every piece feeds the stall watchdog. */
export async function readCapped(body: AsyncIterable<Uint8Array>, url: string, attempt?: Attempt): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    attempt?.alive();
    size += chunk.length;
    if (size > MAX_JSON_BYTES) {
      throw new HubError(`The hub's answer from ${redactUrl(url)} is larger than ${MAX_JSON_BYTES / 1024 / 1024} MiB; refusing it.`, { url: redactUrl(url) });
    }
    parts.push(Buffer.from(chunk));
  }
  return Buffer.concat(parts).toString("utf8");
}

function why(error: unknown, stalled: boolean, origin: string, stallMs: number): string {
  if (stalled) return `no answer from ${origin} for ${Math.round(stallMs / 1000)} s`;
  if (error instanceof HubError) return error.info.status === 429 ? "rate limited by the hub" : `HTTP ${error.info.status ?? "error"}`;
  return `cannot reach ${origin} (${(error as Error)?.message ?? String(error)})`;
}

/**
 * Run one hub API call with up to 4 attempts. Network errors, stalls (nothing for 30 s) and retryable HubErrors
 * (408/429/5xx) wait — `Retry-After` when given, else backoff — and try again; every wait is reported through
 * `onWait` and ends at once when the run is interrupted. A Retry-After over a minute is not waited out: the call
 * fails with the hub's wait. Anything else fails at once.
 */
export async function withRetries<T>(options: ApiCallOptions, url: string, call: (attempt: Attempt) => Promise<T>): Promise<T> {
  const origin = new URL(url).origin;
  const stallMs = options.stallMs ?? API_STALL_MS;
  for (let n = 1; ; n++) {
    options.signal?.throwIfAborted();
    const ctl = new AbortController();
    const onAbort = () => ctl.abort(options.signal?.reason);
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(() => ctl.abort(new Stalled()), stallMs);
    try {
      return await call({ signal: ctl.signal, alive: () => timer.refresh() });
    } catch (error) {
      const stalled = ctl.signal.reason instanceof Stalled;
      if (options.signal?.aborted) throw options.signal.reason ?? error;
      if (error instanceof HubError && !error.info.retryable) throw error;
      const wait = error instanceof HubError ? error.info.retryAfterMs : undefined;
      if (wait !== undefined && wait > API_MAX_WAIT_MS) {
        throw new HubError(
          `${(error as HubError).message} The hub asks to wait ${Math.ceil(wait / 1000)} s before the next request, longer than ` +
            `this tool waits (${API_MAX_WAIT_MS / 1000} s): run the same command again later.`,
          { ...(error as HubError).info, retryable: false },
          { cause: error },
        );
      }
      const reason = why(error, stalled, origin, stallMs);
      if (n >= API_ATTEMPTS) {
        if (error instanceof HubError) throw error;
        throw new HubError(`Cannot reach ${origin}: ${stalled ? reason : (error as Error)?.message} (gave up after ${n} attempts)`, { url: redactUrl(url) }, { cause: error });
      }
      const delayMs = Math.min(wait ?? backoffDelay(n + 1, { baseMs: 500, capMs: API_MAX_WAIT_MS }), API_MAX_WAIT_MS);
      options.onWait?.({ reason, delayMs, attempt: n + 1, attempts: API_ATTEMPTS });
      await sleep(delayMs, options.signal);
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
    }
  }
}
