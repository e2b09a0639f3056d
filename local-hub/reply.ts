import type { ServerResponse } from "node:http";

export type Headers = Record<string, string>;

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Headers = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": String(Buffer.byteLength(text)),
  });
  res.end(text);
}

// Header values must be printable latin1; revisions come from the client and may hold anything.
function headerSafe(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, (char) => encodeURIComponent(char));
}

/** An error the way the Hub sends it: `X-Error-Code`/`X-Error-Message` headers and a JSON `error` body. */
export function sendHubError(
  res: ServerResponse,
  status: number,
  message: string,
  code?: string,
  headers: Headers = {},
): void {
  const errorHeaders: Headers = { ...headers, "X-Error-Message": headerSafe(message) };
  if (code !== undefined) errorHeaders["X-Error-Code"] = code;
  sendJson(res, status, { error: message }, errorHeaders);
}
