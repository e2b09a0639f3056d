import { describe, expect, it } from "vitest";
import { allOfGrowing, eachLimited } from "../../src/util/pool.ts";

const later = (ms: number, then?: () => void) => new Promise<void>((resolve) => setTimeout(() => (then?.(), resolve()), ms));

describe("allOfGrowing", () => {
  it("waits for workers added while it waits, however late, one wait after another", async () => {
    const finished: string[] = [];
    const running: Array<Promise<void>> = [later(30, () => finished.push("first"))];
    // A scaler adds a worker while the first runs, and another once the first has ended (a second wait).
    setTimeout(() => running.push(later(60, () => finished.push("second"))), 10);
    setTimeout(() => running.push(later(80, () => finished.push("third"))), 50);
    await allOfGrowing(running);
    expect(finished).toEqual(["first", "second", "third"]);
    expect(running).toHaveLength(3);
  });

  it("returns at once for an empty list", async () => {
    await expect(allOfGrowing([])).resolves.toBeUndefined();
  });
});

describe("eachLimited", () => {
  it("runs every item at most `width` at a time and returns the errors", async () => {
    let now = 0;
    let most = 0;
    const seen: number[] = [];
    const errors = await eachLimited([1, 2, 3, 4, 5, 6], 2, async (n) => {
      most = Math.max(most, ++now);
      await later(5);
      now--;
      seen.push(n);
      if (n === 6) throw new Error("six");
    });
    expect(most).toBe(2);
    expect(seen.sort()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(errors.map((e) => (e as Error).message)).toEqual(["six"]);
  });
});
