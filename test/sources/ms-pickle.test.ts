import { describe, expect, it } from "vitest";
import { pickleDict, pickleDictList, unpickle } from "../../src/sources/modelscope/pickle.ts";
import { PickleFormatError } from "../../src/errors.ts";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

describe("ModelScope marker pickles (spec ModelScope §3)", () => {
  it("writes the spec's example .msc bytes exactly", () => {
    const expected = hex(
      "80 02 5d 28 7d 28 58 04 00 00 00 50 61 74 68 58 05 00 00 00 61 2e 74 78 74 58 08 00 00 00 52 65 76 69 73 69 6f 6e 58 03 00 00 00 61 62 63 75 65 2e",
    );
    expect(pickleDictList([{ Path: "a.txt", Revision: "abc" }]).equals(expected)).toBe(true);
  });

  it("writes the spec's empty list and .mdl bytes exactly", () => {
    expect(pickleDictList([]).equals(hex("80 02 5d 2e"))).toBe(true);
    expect(pickleDict({ id: "damo/x" }).equals(hex("80 02 7d 28 58 02 00 00 00 69 64 58 06 00 00 00 64 61 6d 6f 2f 78 75 2e"))).toBe(true);
  });

  it("counts string lengths in UTF-8 bytes, not characters", () => {
    const bytes = pickleDictList([{ Path: "模型/配置.json", Revision: "r" }]);
    expect(unpickle(bytes)).toEqual([{ Path: "模型/配置.json", Revision: "r" }]);
    const len = Buffer.byteLength("模型/配置.json");
    expect(bytes.includes(Buffer.concat([Buffer.of(0x58, len, 0, 0, 0), Buffer.from("模型/配置.json")]))).toBe(true);
  });

  it("reads back what it writes, several entries", () => {
    const list = [
      { Path: "configuration.json", Revision: "e45fcc15f0b1f1b7d4f7b0e0a1c2d3e4f5a6b7c8" },
      { Path: "sub/model.bin", Revision: "0123456789abcdef0123456789abcdef01234567" },
    ];
    expect(unpickle(pickleDictList(list))).toEqual(list);
    expect(unpickle(pickleDict({ id: "iic/x___y" }))).toEqual({ id: "iic/x___y" });
  });

  it("reads the protocol 4 Python writes (frame, short strings, memo)", () => {
    // pickle.dumps([{'Path': 'a.txt', 'Revision': 'abc'}, {'Path': 'b', 'Revision': 'abc'}], protocol=4)
    const py = hex(
      "80 04 95 37 00 00 00 00 00 00 00 5d 94 28 7d 94 28 8c 04 50 61 74 68 94 8c 05 61 2e 74 78 74 94 8c 08 52 65 76 69 73 69 6f 6e 94 8c 03 61 62 63 94 75 7d 94 28 68 02 8c 01 62 94 68 04 68 05 75 65 2e",
    );
    expect(unpickle(py)).toEqual([
      { Path: "a.txt", Revision: "abc" },
      { Path: "b", Revision: "abc" },
    ]);
  });

  it("reads the protocol 2 Python writes (BINPUT memo, single APPEND)", () => {
    // pickle.dumps([{'Path': 'a.txt', 'Revision': 'abc'}], protocol=2)
    const py = hex("80 02 5d 71 00 7d 71 01 28 58 04 00 00 00 50 61 74 68 71 02 58 05 00 00 00 61 2e 74 78 74 71 03 58 08 00 00 00 52 65 76 69 73 69 6f 6e 71 04 58 03 00 00 00 61 62 63 71 05 75 61 2e");
    expect(unpickle(py)).toEqual([{ Path: "a.txt", Revision: "abc" }]);
  });

  it("refuses what it does not understand instead of guessing", () => {
    expect(() => unpickle(hex("80 02 5d 28"))).toThrow(/truncated/);
    expect(() => unpickle(hex("80 02 4b 01 2e"))).toThrow(/unsupported pickle opcode 0x4b/);
    expect(() => unpickle(Buffer.from("not a pickle"))).toThrow();
  });

  it("says which file it cannot read, where reading stopped and what to do, as a PickleFormatError", () => {
    let error: unknown;
    try {
      unpickle(hex("80 02 5d 28 58 04 00 00 00 50 61"), "/cache/models/iic/x/.msc");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PickleFormatError);
    expect(error).toMatchObject({ file: "/cache/models/iic/x/.msc", offset: 9 });
    expect((error as Error).message).toBe(
      "/cache/models/iic/x/.msc is not a pickle this tool can read (truncated, at byte 9 of 11). Remove it: the next download of the model writes it again.",
    );
  });
});
