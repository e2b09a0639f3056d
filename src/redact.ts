const secrets = new Set<string>();

/** Remember a secret so that every later `redact()` hides it. Tokens shorter than 4 characters are ignored. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 4) secrets.add(value);
}

/**
 * Hide registered secrets and URL query strings (signed CDN URLs carry credentials in them).
 * Everything printed, stored in a manifest or put in an error message passes through here.
 */
export function redact(text: string): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join("***");
  return out.replace(/(https?:\/\/[^\s?#"']+)\?[^\s"'#)]*/g, "$1?…");
}
