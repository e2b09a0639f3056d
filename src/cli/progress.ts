import type { DownloadEvent } from "../download/index.ts";
import type { S3Event } from "../remote/index.ts";
import { formatRate, formatSeconds } from "../util/index.ts";

/** A file moving bytes now: how far it is, of how much. */
export interface ActiveFile {
  bytes: number;
  size: number;
}

/** What a model not yet moving bytes waits for (the hub API, a retry, another process), and since when. */
export interface Wait {
  what: string;
  since: number;
}

/**
 * The one progress record every reporter reads: events in, totals out. `total` is what the run still had to move
 * when it learnt of it, `done` what moved since the record was made, so speed and ETA count this run's bytes only.
 * Downloads are keyed `id/path`, uploads `target|key`; waits by `id@revision`.
 */
export class Progress {
  total = 0;
  done = 0;
  readonly started: number;
  readonly active = new Map<string, ActiveFile>();
  readonly waiting = new Map<string, Wait>();

  /** `now` is the clock speed and ETA are measured with (a test passes its own). */
  constructor(private readonly now: () => number = Date.now) {
    this.started = now();
  }

  /** Folds a download event in. */
  download(e: DownloadEvent): void {
    if ("model" in e) this.noteWait(e);
    switch (e.type) {
      case "model-resolved":
        this.total += e.missingBytes;
        break;
      case "file-start":
        this.active.set(`${e.model.id}/${e.path}`, { bytes: 0, size: e.size });
        break;
      case "file-resume":
        // Bytes already on disk are neither to move nor moved: out of the total, so the ETA is of what is left.
        this.total -= e.bytes;
        break;
      case "file-progress":
        this.moved(`${e.model.id}/${e.path}`, e.bytes, e.delta);
        break;
      case "file-done":
        this.active.delete(`${e.model.id}/${e.path}`);
        break;
    }
  }

  /** Folds an upload event in. */
  upload(e: S3Event): void {
    const key = "key" in e ? `${e.target}|${e.key}` : "";
    switch (e.type) {
      case "upload-start":
        this.total += e.size - e.resumedBytes;
        this.active.set(key, { bytes: e.resumedBytes, size: e.size });
        break;
      case "upload-progress":
        this.moved(key, e.bytes, e.delta);
        break;
      case "upload-done":
        this.active.delete(key);
        break;
    }
  }

  private moved(key: string, bytes: number, delta: number): void {
    this.done += delta;
    const file = this.active.get(key);
    if (file) file.bytes = bytes;
  }

  private noteWait(e: Extract<DownloadEvent, { model: unknown }>): void {
    const key = `${e.model.id}@${e.model.revision}`;
    const waitFor = (what: string) => this.waiting.set(key, { what, since: this.waiting.get(key)?.since ?? this.now() });
    if (e.type === "model-resolving") waitFor("asking the hub");
    else if (e.type === "model-prune-wait") waitFor("a prune of this model is running");
    else if (e.type === "file-wait") waitFor("another process is downloading it");
    else if (e.type === "model-wait") waitFor(`${e.reason}; retry ${e.attempt} of ${e.attempts}`);
    else this.waiting.delete(key); // anything else about the model means it moves
  }

  /** Seconds since the record was made. */
  seconds(): number {
    return (this.now() - this.started) / 1000;
  }

  /** Bytes per second so far, `formatRate` style ("-" before any time has passed). */
  speed(): string {
    return formatRate(this.done, this.seconds());
  }

  /** Time left at the speed so far; "-" when nothing is left or nothing has moved yet. */
  eta(): string {
    const rate = this.done / Math.max(this.seconds(), 0.001);
    return this.total > this.done && rate > 0 ? formatSeconds((this.total - this.done) / rate) : "-";
  }

  /** Whole percent of the total moved, or undefined while the total is unknown. */
  percent(): number | undefined {
    return this.total > 0 ? Math.floor((this.done / this.total) * 100) : undefined;
  }

  /** The models waiting, in the order they began to, as `key (what, for how long)`; at most `limit`, then "and N more". */
  waitingText(limit = 3): string {
    const list = [...this.waiting].slice(0, limit).map(([key, w]) => `${key} (${w.what}, ${formatSeconds((this.now() - w.since) / 1000)})`);
    return `${list.join("; ")}${this.waiting.size > limit ? ` and ${this.waiting.size - limit} more` : ""}`;
  }
}

/** True at most once per `ms` (the first time `ms` after it was made): for lines printed "every few seconds". */
export function every(ms: number, now: () => number = Date.now): () => boolean {
  let last = now();
  return () => {
    if (now() - last < ms) return false;
    last = now();
    return true;
  };
}
