import type { ModelStore } from "../store/index.ts";
import type { ModelRequest, ResolvedFile } from "../types.ts";
import { DiskSpaceError } from "../errors.ts";
import { freeBytes } from "../util/index.ts";
import { formatBytes } from "../util/index.ts";
import { partialBytes } from "../transfer/index.ts";
import { DEFAULT_RANGE_THRESHOLD } from "../util/index.ts";


/**
 * Free space is checked per model before its first byte, against what the run's other models in flight still
 * need on the same root; bytes already recorded in resumable partial files do not count twice.
 */
export class SpaceReservations {
  private reserved = new Map<ModelRequest, { root: string; bytes: number }>();

  async reserve(model: ModelRequest, store: ModelStore, missing: ResolvedFile[]): Promise<void> {
    let need = 0;
    for (const f of missing) {
      // Only ranged (big) files keep a resume record: small ones cost no probe.
      need += f.size - (f.size >= DEFAULT_RANGE_THRESHOLD ? await partialBytes(store.tempPath(f), f.size) : 0);
    }
    const free = await freeBytes(store.root);
    if (free === undefined) return;
    const others = [...this.reserved.values()].filter((r) => r.root === store.root).reduce((n, r) => n + r.bytes, 0);
    if (need > free - others) {
      throw new DiskSpaceError(
        `Not enough disk space for ${model.id}@${model.revision} under ${store.root}: ${formatBytes(need)} to download, ` +
          `${formatBytes(Math.max(free, 0))} free` +
          (others ? ` (${formatBytes(others)} of it needed by other models of this run)` : "") +
          `. Nothing was downloaded for it. Free some space or use a bigger volume (RunPod volumes can be grown, never shrunk).`,
        store.root,
        need,
        Math.max(free - others, 0),
      );
    }
    this.reserved.set(model, { root: store.root, bytes: need });
  }

  release(model: ModelRequest): void {
    this.reserved.delete(model);
  }
}
