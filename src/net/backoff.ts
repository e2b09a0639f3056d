/**
 * The one way this tool waits: file, API, S3 and registry retries and lease polls all sleep through here, so every
 * wait ends at once when the run is interrupted.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export interface BackoffOptions {
  /** Delay of the first retry; it doubles per attempt. */
  baseMs: number;
  /** No single wait is longer. */
  capMs: number;
}

/** Exponential backoff with jitter (half to full of the doubled delay), capped. `attempt` counts from 1. */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const full = Math.min(options.baseMs * 2 ** Math.max(0, attempt - 1), options.capMs);
  return Math.round(full * (0.5 + Math.random() * 0.5));
}
