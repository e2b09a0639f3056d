/** A half-open byte range `[start, end)`. */
export type Range = readonly [start: number, end: number];

/** Sorted, merged, disjoint byte ranges: what part of a file is on disk. */
export class RangeSet {
  private list: Array<[number, number]> = [];

  constructor(ranges: Iterable<Range> = []) {
    for (const [s, e] of ranges) this.add(s, e);
  }

  add(start: number, end: number): void {
    if (end <= start) return;
    // Fast path, the common case: a stream appending to the range it is extending.
    for (let i = 0; i < this.list.length; i++) {
      const r = this.list[i]!;
      if (r[0] > start) break;
      if (r[1] === start) {
        const next = this.list[i + 1];
        if (!next || next[0] > end) {
          r[1] = end;
          return;
        }
        break;
      }
    }
    let s = start;
    let e = end;
    const out: Array<[number, number]> = [];
    let placed = false;
    for (const [a, b] of this.list) {
      if (b < s) out.push([a, b]);
      else if (a > e) {
        if (!placed) {
          out.push([s, e]);
          placed = true;
        }
        out.push([a, b]);
      } else {
        s = Math.min(s, a);
        e = Math.max(e, b);
      }
    }
    if (!placed) out.push([s, e]);
    this.list = out;
  }

  get ranges(): Range[] {
    return this.list.map(([s, e]) => [s, e] as const);
  }

  get total(): number {
    return this.list.reduce((n, [s, e]) => n + (e - s), 0);
  }

  /** End of the range that starts at 0 (0 when byte 0 is missing). */
  prefixEnd(): number {
    const first = this.list[0];
    return first && first[0] === 0 ? first[1] : 0;
  }

  /** What is missing of a file of `size` bytes. */
  gaps(size: number): Range[] {
    const out: Range[] = [];
    let at = 0;
    for (const [s, e] of this.list) {
      if (s > at) out.push([at, Math.min(s, size)]);
      at = Math.max(at, e);
    }
    if (at < size) out.push([at, size]);
    return out.filter(([s, e]) => e > s);
  }
}

/** Cut ranges into pieces of at most `chunkSize` bytes, in file order. */
export function splitRanges(ranges: readonly Range[], chunkSize: number): Range[] {
  const out: Range[] = [];
  for (const [s, e] of ranges) for (let a = s; a < e; a += chunkSize) out.push([a, Math.min(a + chunkSize, e)]);
  return out;
}

/** The one rule: a file this big goes in Range chunks over several connections and keeps a resume record. */
export function isRanged(size: number, options: { rangeThreshold: number }): boolean {
  return size >= options.rangeThreshold;
}
