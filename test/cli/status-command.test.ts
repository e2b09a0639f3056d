import { describe, expect, it } from "vitest";
import { volumeStatusLines } from "../../src/cli/status-command.ts";

const A = "a".repeat(40);
const B = "b".repeat(40);

describe("status --volume lines", () => {
  it("line up: state, size, commit and lock start (sizes end) at one offset on every row, undeclared ones too", () => {
    const lines = volumeStatusLines(
      "vol1@EU-RO-1",
      [
        { label: "huggingface:acme/tiny-model@main", state: "complete", locked: false, commit: A, bytes: 1_234_567 },
        { label: "huggingface:acme/absent@main", state: "missing", locked: true },
        { label: "modelscope:iic/vad@master", state: "other-commit", locked: true, commit: A, bytes: 999, lockedCommit: B },
      ],
      [
        { model: "modelscope:damo/speech_model.v2@master", commit: A, bytes: 12_000_000 },
        { model: "huggingface:x/y@main", commit: B, bytes: 512 },
      ],
    );
    expect(lines).toEqual([
      "vol1@EU-RO-1:",
      "  huggingface:acme/tiny-model@main  complete      1.23 MB aaaaaaaaaaaa not locked",
      "  huggingface:acme/absent@main      missing                            locked",
      "  modelscope:iic/vad@master         other-commit    999 B aaaaaaaaaaaa (locked bbbbbbbbbbbb)",
      "  Not declared by a selected project:",
      "    modelscope:damo/speech_model.v2@master  (aaaaaaaaaaaa)  12.0 MB",
      "    huggingface:x/y@main                    (bbbbbbbbbbbb)    512 B",
    ]);
  });
});
