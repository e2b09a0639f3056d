import { describe, expect, it } from "vitest";
import { alignColumns, formatBytes, formatRate } from "../../src/util/format.ts";

describe("formatBytes and formatRate", () => {
  it("print whole bytes below a kB, also for a fraction (a rate), and carry to the next unit at rounding", () => {
    expect(formatRate(600, 0.988)).toBe("607 B/s");
    expect(formatBytes(607.2296884330965)).toBe("607 B");
    expect(formatBytes(999.6)).toBe("1.00 kB");
    expect(formatBytes(999_700)).toBe("1.00 MB");
    expect([formatBytes(0), formatBytes(999), formatBytes(1000), formatBytes(3_145_828)]).toEqual(["0 B", "999 B", "1.00 kB", "3.15 MB"]);
  });
});

describe("alignColumns", () => {
  it("starts every column at one offset, right-aligns the columns asked, drops empty trailing cells", () => {
    const rows = [
      ["hf:a/long-name@main", "complete", "1.23 MB", "abc"],
      ["hf:b@main", "missing", "", ""],
      ["hf:c@main", "other commit", "999 B", "def"],
    ];
    expect(alignColumns(rows, { right: [2], indent: "  " })).toEqual([
      "  hf:a/long-name@main  complete      1.23 MB  abc",
      "  hf:b@main            missing",
      "  hf:c@main            other commit    999 B  def",
    ]);
    expect(alignColumns([["a", "b", "c"], ["aa", "bb", "cc"]], { gaps: [" ", "|"] })).toEqual(["a  b |c", "aa bb|cc"]);
  });
});
