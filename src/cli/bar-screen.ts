import type { Output } from "./output.ts";
import type { Screen } from "./human-reporter.ts";
import type { Progress } from "./progress.ts";
import { overallLabel } from "./report-lines.ts";

interface Bar {
  update(value: number, payload?: object): void;
  setTotal(total: number): void;
}
interface Bars {
  create(total: number, start: number, payload?: object): Bar;
  remove(bar: Bar): void;
  log(text: string): void;
  /** Redraw now; also writes lines queued with `log`. */
  update(): void;
  stop(): void;
}

const FILE_BARS = 6;
/** Files smaller than this come and go too fast for a bar of their own. */
const BAR_MIN_BYTES = 1_000_000;

/**
 * On a terminal: an overall bar (bytes, speed, ETA, files in flight) and one bar per active big file, at most
 * FILE_BARS. cli-progress loads with the first file, so a run with nothing to fetch never loads it.
 */
export function barScreen(io: Output, o: { every: number; cap?: string }): Screen {
  let bars: Bars | undefined;
  let overall: Bar | undefined;
  let loading: Promise<void> | undefined;
  const fileBars = new Map<string, Bar>();

  const addFileBar = (key: string, file: { bytes: number; size: number }) => {
    if (!bars || fileBars.has(key) || file.size < BAR_MIN_BYTES || fileBars.size >= FILE_BARS) return;
    fileBars.set(key, bars.create(file.size, file.bytes, { label: key.length > 60 ? `…${key.slice(-59)}` : key }));
  };
  const load = (progress: Progress) => {
    loading ??= import("cli-progress").then((mod) => {
      const { MultiBar, Presets } = mod.default;
      const multi = new MultiBar({ format: "  {bar} {percentage}% | {label}", hideCursor: true, clearOnComplete: true, autopadding: true, barsize: 30 }, Presets.shades_classic);
      bars = multi as unknown as Bars;
      overall = bars.create(Math.max(progress.total, 1), progress.done, { label: "starting" });
      for (const [key, file] of progress.active) addFileBar(key, file);
    });
  };

  return {
    // A wait is said every 10 s at most: the bars already show the run is alive.
    quietFor: Math.max(o.every, 10_000),
    write(line, toErr) {
      if (bars) bars.log(line + "\n");
      else (toErr ? io.err : io.out)(line);
    },
    update(e, progress) {
      switch (e.type) {
        case "model-resolved":
        case "file-resume":
          overall?.setTotal(Math.max(progress.total, 1));
          break;
        case "file-start": {
          load(progress);
          const key = `${e.model.id}/${e.path}`;
          addFileBar(key, progress.active.get(key)!);
          break;
        }
        case "file-progress":
          fileBars.get(`${e.model.id}/${e.path}`)?.update(e.bytes);
          overall?.update(Math.max(progress.done, 0), { label: overallLabel(progress, o.cap) });
          break;
        case "file-done": {
          const key = `${e.model.id}/${e.path}`;
          const bar = fileBars.get(key);
          if (bar) bars?.remove(bar);
          fileBars.delete(key);
          break;
        }
      }
      return undefined;
    },
    async close() {
      await loading;
      bars?.update(); // lines queued with log() are written on a redraw, never by stop()
      bars?.stop();
      bars = undefined;
    },
  };
}
