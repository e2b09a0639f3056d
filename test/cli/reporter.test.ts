import { describe, expect, it } from "vitest";
import { createReporter } from "../../src/cli/reporter.ts";
import type { DownloadEvent, ModelResult } from "../../src/download/events.ts";
import type { Summary } from "../../src/download/run-download.ts";
import { createRedactor } from "../../src/util/redact.ts";

const model = { source: "huggingface", id: "acme/x", revision: "main", include: [], exclude: [], projects: [] };
const result: ModelResult = {
  source: "huggingface", id: "acme/x", revision: "main", commit: "a".repeat(40), status: "downloaded",
  files: 2, bytes: 3_000_000, downloadedBytes: 3_000_000, reusedFiles: 0, projects: [], seconds: 1.5,
};
const summary: Summary = { models: [result], downloaded: 1, skipped: 0, failed: 0, planned: 0, downloadedBytes: 3_000_000, totalBytes: 3_000_000, seconds: 1.5, lockAdded: [], interrupted: 0, relinked: 0 };

const redactor = createRedactor(["hf_TOPSECRET"]);

function run(mode: "human" | "quiet" | "json", events: DownloadEvent[], verbose = true) {
  const out: string[] = [];
  const err: string[] = [];
  const r = createReporter({ out: (l) => out.push(l), err: (l) => err.push(l), isTTY: false }, mode, { progressEveryMs: 0, redactor, verbose });
  for (const e of events) r.onEvent(e);
  return { out, err, finish: () => r.finish(summary, { lines: ["export HF_HOME=/v/huggingface"], vars: { HF_HOME: "/v/huggingface" } }) };
}

const events: DownloadEvent[] = [
  { type: "start", models: 1 },
  { type: "model-resolved", model, commit: "a".repeat(40), files: 2, bytes: 3_000_000, missingBytes: 3_000_000 },
  { type: "file-start", model, path: "model.safetensors", size: 3_000_000 },
  { type: "file-progress", model, path: "model.safetensors", bytes: 1_000_000, size: 3_000_000, delta: 1_000_000 },
  { type: "file-progress", model, path: "model.safetensors", bytes: 3_000_000, size: 3_000_000, delta: 2_000_000 },
  { type: "file-retry", model, path: "model.safetensors", attempt: 1, delayMs: 500, reason: "network error: token hf_TOPSECRET leaked?" },
  { type: "file-done", model, path: "model.safetensors", size: 3_000_000, reused: false },
  { type: "model-done", model, result },
];

describe("reporter (what a person or a log reader sees)", () => {
  it("off a terminal: progress lines, a line per finished file, the model line, the summary and env", async () => {
    const r = run("human", events);
    await r.finish();
    expect(r.out).toEqual([
      // speed and ETA depend on the clock; "-" while nothing can be measured yet
      expect.stringMatching(/^ {2}\.\.\. 1\.00 MB of 3\.00 MB \(33%\), (\S+ \S*B\/s|-), ETA \S+( s)?, 1 file\(s\) in flight$/),
      expect.stringMatching(/^ {2}\.\.\. 3\.00 MB of 3\.00 MB \(100%\)/),
      "  done acme/x/model.safetensors (3.00 MB)",
      expect.stringMatching(/^ {2}downloaded {2}huggingface {2}acme\/x@main \(aaaaaaaaaa\): 2 files, 3\.00 MB; 3\.00 MB in 1\.5 s/),
      "Summary: 1 downloaded, 0 skipped, 0 failed; 3.00 MB downloaded in 1.5 s (2.00 MB/s).",
      "Consumers load these models offline with:",
      "  export HF_HOME=/v/huggingface",
    ]);
    expect(r.err).toEqual(["  retry 1 for model.safetensors of acme/x in 0.5 s: network error: token *** leaked?"]);
  });

  it("off a terminal without --verbose: no line per finished file, the model line and the summary stay", async () => {
    const r = run("human", events, false);
    await r.finish();
    expect(r.out.some((l) => l.includes("done acme"))).toBe(false);
    expect(r.out.some((l) => /^ {2}downloaded {2}huggingface {2}acme\/x@main/.test(l))).toBe(true);
  });

  it("waits are said: a retry wait of the hub API, and one waiting line per model whatever its number of files", async () => {
    const waits: DownloadEvent[] = [
      { type: "model-resolving", model },
      { type: "model-wait", model, reason: "rate limited by the hub", delayMs: 42_000, attempt: 2, attempts: 4 },
      ...["a", "b", "c"].map((path): DownloadEvent => ({ type: "file-wait", model, path, holder: "pod-2:77:abc" })),
    ];
    const r = run("human", waits, false);
    expect(r.err).toEqual(["  acme/x@main: rate limited by the hub: retrying in 42 s, attempt 2 of 4"]);
    expect(r.out.filter((l) => l.includes("waiting for pod-2:77:abc"))).toHaveLength(1);
  });

  it("a silent wait gets a line every few seconds off a terminal", async () => {
    const out: string[] = [];
    const r = createReporter({ out: (l) => out.push(l), err: (l) => out.push(l), isTTY: false }, "human", { progressEveryMs: 50 });
    r.onEvent({ type: "model-resolving", model });
    await new Promise((done) => setTimeout(done, 1300));
    await r.finish({ ...summary, models: [] }, { lines: [], vars: {} });
    expect(out.filter((l) => /^ {2}\.\.\. waiting: acme\/x@main \(asking the hub, \S+/.test(l)).length).toBeGreaterThanOrEqual(1);
  });

  it("quiet: only the summary (and failures)", async () => {
    const r = run("quiet", events);
    await r.finish();
    expect(r.out[0]).toMatch(/^Summary: 1 downloaded/);
    expect(r.out.some((l) => l.includes("done acme"))).toBe(false);
  });

  it("json: one JSON object per line, progress throttled per file, the summary last", async () => {
    const r = run("json", events);
    await r.finish();
    const lines = r.out.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.type)).toEqual(["start", "model-resolved", "file-start", "file-progress", "file-retry", "file-done", "model-done", "summary"]);
    expect(lines[1]).toMatchObject({ model: "huggingface:acme/x@main", missingBytes: 3_000_000 });
    expect(lines.at(-1)).toMatchObject({ type: "summary", ok: true, env: { HF_HOME: "/v/huggingface" } });
    expect(r.out.join("\n")).not.toContain("hf_TOPSECRET");
  });

  it("a slow model's speed is a formatted rate, not a raw fraction of bytes", async () => {
    const slow: ModelResult = { ...result, bytes: 600, downloadedBytes: 600, seconds: 0.988 };
    const r = run("human", [{ type: "model-done", model, result: slow }], false);
    expect(r.out).toEqual([expect.stringMatching(/: 2 files, 600 B; 600 B in 1\.0 s \(607 B\/s\)$/)]);
  });

  it("--max-rate is shown beside the speed in the units it was given", async () => {
    const out: string[] = [];
    const r = createReporter({ out: (l) => out.push(l), err: (l) => out.push(l), isTTY: false }, "human", { progressEveryMs: 0, maxRate: "10M" });
    for (const e of events.slice(0, 4)) r.onEvent(e);
    expect(out).toEqual([expect.stringMatching(/^ {2}\.\.\. 1\.00 MB of 3\.00 MB \(33%\), (\S+ \S*B\/s|-) \(capped at 10M\/s\), ETA /)]);
  });

  it("lines of the same run (the uploads of a --volume fill) go through the reporter and count as said", async () => {
    const out: string[] = [];
    const r = createReporter({ out: (l) => out.push(l), err: (l) => out.push(l), isTTY: false }, "human", { progressEveryMs: 300, redactor });
    r.onEvent({ type: "model-resolving", model });
    const talk = setInterval(() => r.output.out("  uploaded    hf_TOPSECRET → vol1"), 20);
    await new Promise((done) => setTimeout(done, 1300));
    clearInterval(talk);
    await r.finish({ ...summary, models: [] }, { lines: [], vars: {} });
    expect(out.filter((l) => l.includes("... waiting"))).toEqual([]);
    expect(out[0]).toBe("  uploaded    *** → vol1");
  });
});
