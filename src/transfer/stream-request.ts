import type { Dispatcher } from "undici";
import { nextHop } from "../net/index.ts";

export type Headers = Record<string, string | string[] | undefined>;

export interface StreamResponse {
  status: number;
  headers: Headers;
  /** The URL that answered, after redirects. */
  url: string;
  /** Up to 4 KiB of the body of a non-2xx answer (to explain it). */
  errorBody?: string;
}

export interface StreamOptions {
  headers: Record<string, string>;
  dispatcher: Dispatcher;
  signal: AbortSignal;
  /** Called once for a 2xx answer before its body; throw to refuse it. */
  onResponse(response: StreamResponse): void;
  /** Each body piece of a 2xx answer, in order; throw to abort; return false to pause the connection. */
  onData(chunk: Buffer): boolean | void;
  /** Called when `onData` paused the connection, with the function that resumes it. */
  onPause?(resume: () => void): void;
}

/**
 * One GET whose body is handed piece by piece to `onData`, through undici's dispatcher API: no stream objects,
 * no promise per piece. That is about 2.5× the throughput of iterating a response body on this machine, which is
 * what lets verification keep up with the wire. Redirects follow the same rules as `httpRequest` (`nextHop`).
 */
export async function streamRequest(url: string, options: StreamOptions): Promise<StreamResponse> {
  let current = url;
  let headers = options.headers;
  for (let hop = 0; ; hop++) {
    const response = await once(current, headers, options);
    const location = response.headers.location;
    if (response.status < 300 || response.status >= 400 || response.status === 304 || typeof location !== "string") return response;
    ({ url: current, headers } = nextHop({ start: url, current, location, headers, hop }));
  }
}

function once(url: string, headers: Record<string, string>, options: StreamOptions): Promise<StreamResponse> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    let response: StreamResponse | undefined;
    let kind: "data" | "error" | "skip" = "skip";
    let errorBody = "";
    let settled = false;
    let abortRequest: ((reason: Error) => void) | undefined;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      options.signal.removeEventListener("abort", onAbort);
      reject(error);
    };
    const onAbort = () => {
      const reason = options.signal.reason instanceof Error ? options.signal.reason : new Error("aborted");
      abortRequest?.(reason);
      fail(reason);
    };
    if (options.signal.aborted) return onAbort();
    options.signal.addEventListener("abort", onAbort, { once: true });
    options.dispatcher.dispatch(
      { origin: u.origin, path: u.pathname + u.search, method: "GET", headers },
      {
        onRequestStart(controller) {
          abortRequest = (reason) => controller.abort(reason);
        },
        onResponseStart(controller, status, responseHeaders) {
          response = { status, headers: responseHeaders as Headers, url };
          if (status >= 200 && status < 300) {
            try {
              options.onResponse(response);
              kind = "data";
            } catch (error) {
              controller.abort(error as Error);
              fail(error);
            }
          } else if (status < 300 || status >= 400) kind = "error";
        },
        onResponseData(controller, chunk) {
          if (kind === "data") {
            try {
              if (options.onData(chunk) === false) {
                controller.pause();
                options.onPause?.(() => controller.resume());
              }
            } catch (error) {
              controller.abort(error as Error);
              fail(error);
            }
          } else if (kind === "error" && errorBody.length < 4096) errorBody += chunk.toString("utf8");
        },
        onResponseEnd() {
          if (settled) return;
          settled = true;
          options.signal.removeEventListener("abort", onAbort);
          resolve(kind === "error" ? { ...response!, errorBody: errorBody.slice(0, 4096) } : response!);
        },
        onResponseError(_controller, error) {
          fail(error);
        },
      },
    );
  });
}
