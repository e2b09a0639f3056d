import { open, rename, rm, mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import type { Dispatcher } from "undici";
import type { FailedResponse } from "./downloader.ts";
import type { ResolvedFile } from "./types.ts";
import { HubError, IntegrityError } from "./errors.ts";
import { failedResponse, header, httpRequest, isRetryableStatus, retryAfterMs } from "./http.ts";
import { redact } from "./redact.ts";
import { Verifier } from "./verify.ts";

export interface RetryPolicy {
  /** Attempts per file for network errors, 408, 429 and 5xx. @default 5 */
  attempts: number;
  /** First backoff delay; doubles each attempt, with jitter, capped at 30 s. @default 1000 */
  baseMs: number;
}

export const defaultRetry: RetryPolicy = { attempts: 5, baseMs: 1000 };

export interface FetchFileParams {
  file: ResolvedFile;
  /** Where bytes go while they are unverified (ends in `.incomplete`). */
  temp: string;
  /** Final name, given only after verification. */
  dest: string;
  dispatcher: Dispatcher;
  signal?: AbortSignal;
  retry?: RetryPolicy;
  onProgress?: (delta: number) => void;
  onRetry?: (attempt: number, delayMs: number, reason: string) => void;
  /** Explains a failed answer in the hub's terms; the core's generic message is used otherwise. */
  describeError?: (response: FailedResponse) => Error | undefined;
  /** Label for messages, e.g. `config.json of org/name`. */
  label: string;
}

class RetryableError extends Error {
  constructor(message: string, readonly delayMs?: number, options?: { cause?: unknown }) {
    super(message, options);
  }
}

function backoff(attempt: number, baseMs: number): number {
  const exp = Math.min(baseMs * 2 ** (attempt - 1), 30_000);
  return Math.round(exp * (0.5 + Math.random() * 0.5));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

function isNetworkError(error: unknown): boolean {
  const code = (error as { code?: string })?.code ?? "";
  return /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|EAI_AGAIN|ENOTFOUND|UND_ERR_)/.test(code) || (error as Error)?.name === "SocketError";
}

/**
 * Download one file into `temp`, verify it, then rename it to `dest`. Retries network errors and 408/429/5xx
 * with exponential backoff (honouring Retry-After), continuing from the bytes already written with a Range request.
 * A file whose bytes do not verify is downloaded once more from scratch, then fails with an IntegrityError.
 * The temp file is kept after a network failure (its bytes are valid so far) and removed after an integrity failure.
 */
export async function fetchFile(p: FetchFileParams): Promise<void> {
  const retry = p.retry ?? defaultRetry;
  await mkdir(dirname(p.temp), { recursive: true });
  const fh = await open(p.temp, "w");
  const verifier = new Verifier(p.file);
  let written = 0;
  let integrityRetries = 1;
  const restart = async () => {
    p.onProgress?.(-written);
    written = 0;
    verifier.reset();
    await fh.truncate(0);
  };
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await transfer();
        const problem = verifier.problem();
        if (!problem) break;
        if (integrityRetries-- > 0) {
          p.onRetry?.(attempt, 0, `downloaded bytes do not verify (${problem}); downloading again`);
          await restart();
          attempt = 0;
          continue;
        }
        await fh.close().catch(() => {});
        await rm(p.temp, { force: true });
        throw new IntegrityError(
          `${p.label}: the downloaded bytes do not match the hub's listing (${problem}), twice. ` +
            `The file was discarded and nothing was written under its final name; retry later, or report it to the hub if it persists.`,
        );
      } catch (error) {
        if (!(error instanceof RetryableError) || attempt >= retry.attempts) {
          if (error instanceof RetryableError) {
            const what = error.message.includes(p.label) ? error.message : `${p.label}: ${error.message}`;
            throw new HubError(`${what} (gave up after ${attempt} attempts)`, { retryable: true }, { cause: error.cause });
          }
          throw error;
        }
        const delay = Math.min(error.delayMs ?? backoff(attempt, retry.baseMs), 60_000);
        p.onRetry?.(attempt, delay, error.message);
        await sleep(delay, p.signal);
      }
    }
    await fh.sync();
  } finally {
    await fh.close().catch(() => {});
  }
  await rename(p.temp, p.dest);

  async function transfer(): Promise<void> {
    const headers: Record<string, string> = { ...p.file.headers, "accept-encoding": "identity" };
    if (written > 0) headers.range = `bytes=${written}-`;
    let res;
    try {
      res = await httpRequest(p.file.url, { headers, dispatcher: p.dispatcher, signal: p.signal });
    } catch (error) {
      if (isNetworkError(error)) throw new RetryableError(`network error: ${(error as Error).message}`, undefined, { cause: error });
      throw error;
    }
    if (res.status === 206) {
      const start = Number(header(res.headers, "content-range")?.match(/bytes (\d+)-/)?.[1]);
      if (start !== written) await restart(); // a server that ignores where we are: start over cleanly
    } else if (res.status === 200) {
      if (written > 0) await restart(); // Range not honoured: the body is the whole file
    } else {
      const failed = await failedResponse(res);
      const explained = p.describeError?.(failed);
      const retryable = isRetryableStatus(failed.status) || (explained instanceof HubError && explained.info.retryable);
      const message = explained?.message ?? `HTTP ${failed.status} for ${p.label} (GET ${redact(failed.url)})`;
      if (retryable) throw new RetryableError(message, retryAfterMs(failed.headers));
      throw explained ?? new HubError(message, { status: failed.status, url: redact(failed.url) });
    }
    try {
      for await (const chunk of res.body) {
        const buf = chunk as Buffer;
        if (written + buf.length > p.file.size) {
          verifier.update(buf); // counted, not written: the size check then fails and the file is fetched again
          res.body.destroy();
          throw new IntegrityError(`the server sent more than the listed ${p.file.size} bytes`);
        }
        await fh.write(buf, 0, buf.length, written);
        written += buf.length;
        verifier.update(buf);
        p.onProgress?.(buf.length);
      }
    } catch (error) {
      if (error instanceof IntegrityError) return; // verifier reports the size problem and the file is fetched again
      if (!p.signal?.aborted) {
        throw new RetryableError(`connection lost after ${written} bytes: ${(error as Error).message}`, undefined, { cause: error });
      }
      throw error;
    }
    if (written < p.file.size) throw new RetryableError(`connection closed after ${written} of ${p.file.size} bytes`);
  }
}
