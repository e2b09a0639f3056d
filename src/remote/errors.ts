import { DownloadModelsError } from "../errors.ts";

/** A target cannot be used: not found, credentials rejected, clock off, unreachable. Exit code 2. */
export class S3TargetError extends DownloadModelsError {
  override name = "S3TargetError";
  override readonly exitCode = 2;
  constructor(
    message: string,
    /** The `--volume` value. */
    readonly target: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The volume answered 507: nothing more fits, so every further write to it is pointless. */
export class VolumeFullError extends DownloadModelsError {
  override name = "VolumeFullError";
  constructor(
    readonly target: string,
    readonly key: string,
    options?: { cause?: unknown },
  ) {
    super(
      `Volume ${target} is full (507 Insufficient Storage while writing ${key}). Grow the network volume in the ` +
        `RunPod console or remove models from it, then run the same command again; finished files are kept.`,
      options,
    );
  }
}

/** One object could not be written or proven present after the retries. */
export class S3UploadError extends DownloadModelsError {
  override name = "S3UploadError";
  constructor(
    message: string,
    readonly info: { target: string; key: string; status?: number; code?: string },
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
