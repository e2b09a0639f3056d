export type ByteRange =
  | { kind: "full" }
  | { kind: "partial"; start: number; endInclusive: number }
  | { kind: "unsatisfiable" };

/**
 * Reads a single `Range: bytes=a-b | a- | -n` header against a file of `size` bytes.
 * Anything else (absent, malformed, multi-range) serves the whole file, as RFC 9110 allows.
 */
export function parseRange(header: string | undefined, size: number): ByteRange {
  const match = header?.trim().match(/^bytes=(\d*)-(\d*)$/);
  if (!match) return { kind: "full" };
  const [, first = "", last = ""] = match;
  if (first === "" && last === "") return { kind: "full" };
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", start: Math.max(0, size - suffix), endInclusive: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== "" && Number(last) < start) return { kind: "full" };
  if (start >= size) return { kind: "unsatisfiable" };
  return { kind: "partial", start, endInclusive: end };
}
