/**
 * Hide URL query strings (signed CDN URLs carry credentials in them) and URL userinfo (`http://user:secret@host`).
 * Needs no secret: safe anywhere, on anything.
 */
export function redactUrl(text: string): string {
  return text
    .replace(/(https?:\/\/)[^\s/@"']+@/g, "$1***@")
    .replace(/(https?:\/\/[^\s?#"']+)\?[^\s"'#)]*/g, "$1?…");
}

/** The secrets of one run (tokens from flags and env vars) and the function that hides them and URL credentials. */
export interface Redactor {
  /** Remember a secret; values shorter than 4 characters are ignored (they would mask ordinary text). */
  add(secret: string | undefined): void;
  /** Everything printed, stored in a manifest or put in an error message passes through here. */
  redact(text: string): string;
}

export function createRedactor(secrets: Iterable<string | undefined> = []): Redactor {
  const known = new Set<string>();
  const redactor: Redactor = {
    add(secret) {
      if (secret && secret.length >= 4) known.add(secret);
    },
    redact(text) {
      let out = text;
      for (const s of known) out = out.split(s).join("***");
      return redactUrl(out);
    },
  };
  for (const s of secrets) redactor.add(s);
  return redactor;
}
