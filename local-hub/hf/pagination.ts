export interface Page<T> {
  items: T[];
  /** Absolute URL of the next page: the same URL with a new `cursor`. */
  next?: string;
}

/** One page of `items` for the request's `cursor`; undefined when the cursor is not one of ours. */
export function paginate<T>(items: readonly T[], requestUrl: URL, pageSize: number): Page<T> | undefined {
  const cursor = requestUrl.searchParams.get("cursor");
  const offset = cursor === null ? 0 : decodeCursor(cursor);
  if (offset === undefined) return undefined;
  const page = items.slice(offset, offset + pageSize);
  if (offset + pageSize >= items.length) return { items: page };
  const next = new URL(requestUrl);
  next.searchParams.set("cursor", encodeCursor(offset + pageSize));
  return { items: page, next: next.href };
}

// Opaque like the Hub's cursors, so clients cannot get away with building them.
function encodeCursor(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString("base64url");
}

function decodeCursor(cursor: string): number | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (typeof parsed === "object" && parsed !== null && "offset" in parsed) {
      const offset = parsed.offset;
      if (typeof offset === "number" && Number.isSafeInteger(offset) && offset >= 0) return offset;
    }
  } catch {
    // not JSON: not one of ours
  }
  return undefined;
}
