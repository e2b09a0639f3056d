import type { ModelRequest } from "../types.ts";

/** What makes two requests the same download: source, id, revision, filters (in any order), local folder. */
export function requestKey(m: Pick<ModelRequest, "source" | "id" | "revision" | "include" | "exclude" | "localDir">): string {
  return JSON.stringify([m.source, m.id, m.revision, [...m.include].sort(), [...m.exclude].sort(), m.localDir ?? ""]);
}
