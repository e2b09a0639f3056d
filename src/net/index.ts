// The door of net/: everything other stages use from it.
export { type ApiWait } from "./api-call.ts";
export { backoffDelay, sleep } from "./backoff.ts";
export { encodeUrlPath, endpointProblem, huggingfaceFileUrl } from "./endpoint.ts";
export { type HubAccess, type HubClient, type HubJsonAnswer, type HubJsonRequest, type HubProfile, hubClient } from "./hub-json.ts";
export { Agent, getGlobalDispatcher, request, type RequestOptions } from "./undici.ts";
export { failedResponse, header, httpRequest, isRetryableStatus, nextHop, retryAfterMs, withoutCredentials } from "./http.ts";
