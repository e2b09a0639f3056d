import { describe, expect, it } from "vitest";
import { idProblem, parseModelRef } from "../../src/sources/model-id.ts";
import { UsageError } from "../../src/errors.ts";

describe("parseModelRef", () => {
  const ok: Array<[string, object]> = [
    ["Qwen/Qwen2.5-0.5B", { id: "Qwen/Qwen2.5-0.5B" }],
    ["gpt2", { id: "gpt2" }],
    ["hf:org/name", { id: "org/name", source: "hf" }],
    ["huggingface:org/name@v1.0", { id: "org/name", source: "huggingface", revision: "v1.0" }],
    ["ms:iic/speech_campplus_sv_zh-cn_16k-common", { id: "iic/speech_campplus_sv_zh-cn_16k-common", source: "ms" }],
    ["org/name@refs/pr/1", { id: "org/name", revision: "refs/pr/1" }],
  ];
  for (const [input, expected] of ok) {
    it(`parses ${input}`, () => expect(parseModelRef(input)).toEqual(expected));
  }

  const bad: Array<[string, string]> = [
    ["../../etc", 'more than one "/"'],
    ["../etc", "not a repository id"],
    ["org/..", "not a repository id"],
    ["a/b/c", 'more than one "/"'],
    ["/abs", "not a repository id"],
    ["org/name@", 'nothing after "@"'],
    ["org/.hidden", "not a repository id"],
    ["", "empty"],
  ];
  for (const [input, message] of bad) {
    it(`refuses ${JSON.stringify(input)}`, () => {
      expect(() => parseModelRef(input)).toThrow(UsageError);
      expect(() => parseModelRef(input)).toThrow(message);
    });
  }

  it("explains what an id must look like", () => {
    expect(idProblem("org/na me")).toMatch(/expected "org\/name"/);
    expect(idProblem("org/name")).toBeUndefined();
  });
});
