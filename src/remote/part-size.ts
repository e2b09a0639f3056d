import { UsageError } from "../errors.ts";

const MiB = 1024 * 1024;
// RunPod caps a part (and a single PUT) at 500 MB; stay under it in bytes, not MiB.
export const MAX_PART_BYTES = 500_000_000;
const DEFAULT_PART_BYTES = 64 * MiB;
// Margin under the 10,000 parts S3 allows; RunPod's maximum is not documented.
const MAX_PARTS = 9_000;

/** How one file is sent: a single PUT up to `singlePutMax` bytes, else parts of `partSize` (the last one shorter). */
export interface PartPlan {
  singlePutMax: number;
  partSize: number;
}

/**
 * Part size and single-PUT threshold: 64 MiB, or DOWNLOAD_MODELS_S3_PART_MB (whole MiB from 1) for both. Parts
 * grow for huge files to stay within 9,000 parts.
 */
export function partPlan(size: number, env: NodeJS.ProcessEnv): PartPlan {
  const raw = env.DOWNLOAD_MODELS_S3_PART_MB;
  let base = DEFAULT_PART_BYTES;
  if (raw !== undefined && raw !== "") {
    if (!/^\d+$/.test(raw.trim()) || Number(raw) < 1 || Number(raw) * MiB > MAX_PART_BYTES) {
      throw new UsageError(
        `DOWNLOAD_MODELS_S3_PART_MB="${raw}" must be a whole number of MiB from 1 to ${Math.floor(MAX_PART_BYTES / MiB)}.`,
      );
    }
    base = Number(raw) * MiB;
  }
  const forCount = Math.ceil(size / MAX_PARTS / MiB) * MiB;
  const partSize = Math.min(MAX_PART_BYTES, Math.max(base, forCount));
  return { singlePutMax: base, partSize };
}

export function partCount(size: number, partSize: number): number {
  return Math.max(1, Math.ceil(size / partSize));
}

/** Byte range [start, end) of part `n` (1-based). */
export function partRange(n: number, size: number, partSize: number): { start: number; end: number } {
  const start = (n - 1) * partSize;
  return { start, end: Math.min(size, start + partSize) };
}
