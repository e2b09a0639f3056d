/**
 * Why the env var `name` holding `value` is not a usable hub endpoint (an http(s) URL), or undefined when it is.
 * Checked before any request: a typo would otherwise be retried for seconds and end as "Invalid URL".
 */
export function endpointProblem(name: string, value: string | undefined): string | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    return `${name}=${JSON.stringify(value)} is not a URL: set it to the hub's address, e.g. https://…, or unset it for the default hub.`;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return `${name} must be an http:// or https:// URL, not ${url.protocol}// (${name}=${JSON.stringify(value)}).`;
  }
  return undefined;
}
