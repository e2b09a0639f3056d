import { HubError } from "./errors.ts";
import { backoffDelay, sleep } from "./backoff.ts";
import { redactUrl } from "./redact.ts";

const API_ATTEMPTS = 4;
/** No API retry waits longer than this, whatever Retry-After says. */
const API_MAX_WAIT_MS = 60_000;
/** An API answer larger than this is refused (a real listing is a few MB even for 10k files). */
export const MAX_JSON_BYTES = 64 * 1024 * 1024;

/** Read a JSON API body as text, refusing one larger than MAX_JSON_BYTES. */
export async function readCapped(body: AsyncIterable<Uint8Array>, url: string): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > MAX_JSON_BYTES) {
      throw new HubError(`The hub's answer from ${redactUrl(url)} is larger than ${MAX_JSON_BYTES / 1024 / 1024} MiB; refusing it.`, { url: redactUrl(url) });
    }
    parts.push(Buffer.from(chunk));
  }
  return Buffer.concat(parts).toString("utf8");
}

/**
 * Run one hub API call with up to 4 attempts: network errors and retryable HubErrors (408/429/5xx) wait
 * (`Retry-After` when given, else 1, 2, 4 s) and try again; anything else fails at once.
 */
export async function withRetries<T>(signal: AbortSignal | undefined, url: string, call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (signal?.aborted || attempt >= API_ATTEMPTS) {
        if (error instanceof HubError) throw error;
        throw new HubError(`Cannot reach ${new URL(url).origin}: ${(error as Error).message}`, { url: redactUrl(url) }, { cause: error });
      }
      if (error instanceof HubError && !error.info.retryable) throw error;
      const wait = error instanceof HubError ? error.info.retryAfterMs : undefined;
      await sleep(Math.min(wait ?? backoffDelay(attempt + 1, { baseMs: 500, capMs: API_MAX_WAIT_MS }), API_MAX_WAIT_MS), signal);
    }
  }
}
