import { backoffDelay, sleep } from "../net/index.ts";

/** What the SDK puts on a service or network error that we look at. */
interface SdkErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number };
}

export function s3Status(error: unknown): number | undefined {
  const e = error as SdkErrorShape | undefined;
  return e?.$metadata?.httpStatusCode ?? e?.$response?.statusCode;
}

/** The S3 error code (`NoSuchKey`, `InvalidAccessKeyId`…), the SDK's name for a bodiless HEAD error, or a socket code. */
export function s3Code(error: unknown): string | undefined {
  const e = error as SdkErrorShape | undefined;
  return e?.Code ?? (e?.name && e.name !== "Error" ? e.name : undefined) ?? e?.code;
}

export function isVolumeFull(error: unknown): boolean {
  return s3Status(error) === 507 || s3Code(error) === "InsufficientStorage";
}

export function isNotFound(error: unknown): boolean {
  const code = s3Code(error);
  return s3Status(error) === 404 || code === "NotFound" || code === "NoSuchKey";
}

const NETWORK_CODES = new Set(["ECONNRESET", "EPIPE", "ETIMEDOUT", "ECONNREFUSED", "ECONNABORTED", "EAI_AGAIN", "ENETUNREACH", "EHOSTUNREACH", "UND_ERR_SOCKET"]);

/**
 * Worth another try: 5xx (Cloudflare's 520–524 included, which the SDK does not retry), 429, timeouts and
 * dropped connections. Never 507 (full stays full) nor 501.
 */
export function isRetryable(error: unknown): boolean {
  const status = s3Status(error);
  if (status === 507 || status === 501) return false;
  if (status !== undefined && (status >= 500 || status === 429 || status === 408)) return true;
  const e = error as SdkErrorShape | undefined;
  if (e?.name === "TimeoutError" || e?.name === "RequestTimeout" || e?.Code === "RequestTimeout") return true;
  return NETWORK_CODES.has(e?.code ?? "") || NETWORK_CODES.has(s3Code(error) ?? "");
}

export interface RetryPolicy {
  /** Tries in all, on top of the SDK's own attempts per try. @default 5 */
  attempts: number;
  /** First backoff; doubles per try. @default 1000 */
  baseDelayMs: number;
  /** @default 30_000 */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 1000, maxDelayMs: 30_000 };

export type RetryListener = (attempt: number, delayMs: number, error: unknown) => void;

export interface RetryOptions {
  policy: RetryPolicy;
  onRetry?: RetryListener | undefined;
  /** Ends the waits and the retries at once. */
  signal?: AbortSignal | undefined;
}

/**
 * Run `fn` until it succeeds, retrying what isRetryable accepts with the run's one backoff (exponential, jitter,
 * capped).
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, { policy, onRetry, signal }: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (attempt >= policy.attempts || !isRetryable(error)) throw error;
      const delayMs = backoffDelay(attempt, { baseMs: policy.baseDelayMs, capMs: policy.maxDelayMs });
      onRetry?.(attempt, delayMs, error);
      await sleep(delayMs, signal);
    }
  }
}

/** A short description of an error for retry events and messages. */
export function describeS3Error(error: unknown): string {
  const status = s3Status(error);
  const code = s3Code(error);
  const message = error instanceof Error ? error.message : String(error);
  return [status && `HTTP ${status}`, code, message && message !== code ? message : undefined].filter(Boolean).join(" ");
}
