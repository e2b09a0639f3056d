// The door of net/: everything other stages use from it.
export { type ApiWait, readCapped, withRetries } from "./api-call.ts";
export { backoffDelay, sleep } from "./backoff.ts";
export { failedResponse, header, httpRequest, isRetryableStatus, nextHop, retryAfterMs, withoutCredentials } from "./http.ts";
export { type Redactor, createRedactor, redactUrl } from "./redact.ts";
