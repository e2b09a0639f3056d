import type { S3Event } from "../remote/index.ts";
import { formatBytes, formatRate } from "../util/index.ts";
import type { Mode, Output } from "./reporter.ts";

/**
 * Renders upload events like the download reporter does downloads: `human` a line per model and target, a
 * progress line every few seconds and, with --verbose, a line per object; `quiet` retries and failures only;
 * `json` one JSON line per event (progress at most once a second per object).
 */
export function createUploadReporter(io: Output, mode: Mode, opts: { progressEveryMs?: number; verbose?: boolean } = {}) {
  const started = Date.now();
  const every = opts.progressEveryMs ?? 5000;
  let sent = 0;
  let lastLog = Date.now();
  const lastJson = new Map<string, number>();
  const json = (e: S3Event) => io.out(JSON.stringify({ ...e, time: new Date().toISOString() }));

  return {
    onEvent(e: S3Event): void {
      if (e.type === "upload-progress") {
        sent += e.delta;
        const id = `${e.target}|${e.key}`;
        if (mode === "json" && Date.now() - (lastJson.get(id) ?? 0) >= 1000) {
          lastJson.set(id, Date.now());
          json(e);
        }
        if (mode === "human" && Date.now() - lastLog >= every) {
          lastLog = Date.now();
          io.out(`  ... ${formatBytes(sent)} uploaded, ${formatRate(sent, (Date.now() - started) / 1000)}`);
        }
        return;
      }
      if (mode === "json") return json(e);
      switch (e.type) {
        case "upload-start":
          if (mode === "human" && e.resumedBytes > 0) io.out(`  resuming ${e.key} on ${e.target}: ${formatBytes(e.resumedBytes)} of ${formatBytes(e.size)} already there`);
          break;
        case "upload-retry":
          io.err(`  retry ${e.attempt} for ${e.key} on ${e.target} in ${(e.delayMs / 1000).toFixed(1)} s: ${e.reason}`);
          break;
        case "upload-done":
          if (mode === "human" && opts.verbose) io.out(`  uploaded ${e.key} to ${e.target} (${formatBytes(e.size)}${e.etagCheck === "unverified" ? ", ETag not checkable" : ""})`);
          break;
        case "listing-fallback":
          io.err(`  listing ${e.prefix} on ${e.target} broke (${e.reason}); listing it folder by folder instead`);
          break;
        case "model-skip":
          if (mode === "human") io.out(`  on volume   ${e.model} → ${e.target}: complete, nothing sent`);
          break;
        case "model-uploaded":
          if (mode === "human") {
            io.out(`  uploaded    ${e.model} → ${e.target}: ${e.uploaded} object${e.uploaded === 1 ? "" : "s"} sent, ${e.present} already there, ${formatBytes(e.bytesSent)}`);
          }
          break;
        case "object-present":
          break;
      }
    },
  };
}
