import { describe, expect, it } from "vitest";
import { fnmatch, matchesFilters } from "../../src/util/patterns.ts";

describe("fnmatch (Python fnmatchcase semantics, as huggingface_hub)", () => {
  const cases: Array<[string, string, boolean]> = [
    ["config.json", "*.json", true],
    ["sub/dir/config.json", "*.json", true], // `*` crosses `/`
    ["model.safetensors", "*.json", false],
    ["Config.JSON", "*.json", false], // case-sensitive
    ["onnx/model.onnx", "onnx/", true], // a folder pattern gets `*` appended
    ["onnx2/model.onnx", "onnx/", false],
    ["model-00001-of-00002.safetensors", "model-0000?-of-*.safetensors", true],
    ["a.bin", "[ab].bin", true],
    ["c.bin", "[!ab].bin", true],
    ["a.bin", "[!ab].bin", false],
    ["file(1).txt", "file(1).txt", true],
    ["x+y.txt", "x+y.txt", true],
    ["weird[.txt", "weird[.txt", true],
  ];
  for (const [path, pattern, expected] of cases) {
    it(`${pattern} ${expected ? "matches" : "does not match"} ${path}`, () => {
      expect(fnmatch(path, pattern)).toBe(expected);
    });
  }

  it("applies include first, then exclude", () => {
    expect(matchesFilters("a.json", [], [])).toBe(true);
    expect(matchesFilters("a.json", ["*.json"], ["a.*"])).toBe(false);
    expect(matchesFilters("b.json", ["*.json"], ["a.*"])).toBe(true);
    expect(matchesFilters("b.bin", ["*.json"], [])).toBe(false);
    expect(matchesFilters("b.bin", [], ["*.json"])).toBe(true);
  });
});
