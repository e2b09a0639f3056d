import type { ModelRequest } from "../types.ts";

/** Patterns are a set: order and repeats do not change what a request selects. */
export function patternSet(patterns: readonly string[]): string[] {
  return [...new Set(patterns)].sort(compare);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The one identity of a model request: what makes two requests the same download. Source, id, revision, the
 * filters as sets, and the local folder; projects do not count.
 */
export function requestKey(m: Pick<ModelRequest, "source" | "id" | "revision" | "include" | "exclude" | "localDir">): string {
  return JSON.stringify([m.source, m.id, m.revision, patternSet(m.include), patternSet(m.exclude), m.localDir ?? ""]);
}

/**
 * `requestKey` of a request as the records that never hold a local folder know it: a lock entry, a volume record,
 * a store's manifest. A request with `--local-dir` is the same model there as one without.
 */
export function selectionKey(m: Pick<ModelRequest, "source" | "id" | "revision" | "include" | "exclude">): string {
  return requestKey({ source: m.source, id: m.id, revision: m.revision, include: m.include, exclude: m.exclude });
}
