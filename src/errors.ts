/** Base class: the message is written for the user and says what failed, where, and what to do. */
export class DownloadModelsError extends Error {
  override name = "DownloadModelsError";
  /** Process exit code when this error ends the run. */
  readonly exitCode: number = 1;
}

/** Bad flags or arguments. Exit code 2. */
export class UsageError extends DownloadModelsError {
  override name = "UsageError";
  override readonly exitCode = 2;
}

/** Project plugins or downloaders that do not validate; every problem is listed. Exit code 2. */
export class ConfigError extends DownloadModelsError {
  override name = "ConfigError";
  override readonly exitCode = 2;
  constructor(
    readonly problems: string[],
    heading = "Found problems in the project configuration:",
  ) {
    super([heading, ...problems.map((p) => `  - ${p}`)].join("\n"));
  }
}

/** No safe place to write to (e.g. a RunPod Pod without a network volume). Exit code 2. */
export class RootError extends DownloadModelsError {
  override name = "RootError";
  override readonly exitCode = 2;
}

/** What a remote service said of a request it refused or failed, and whether asking again may help. */
export interface ServiceErrorInfo {
  /** The HTTP status, when an answer came. */
  status?: number;
  /** The service's own error code (HF `X-Error-Code`, ModelScope `Code`, a registry's `errors[].code`). */
  code?: string;
  /** The URL asked, redacted. */
  url?: string;
  retryable?: boolean;
  /** How long the service asked to wait before the next request. */
  retryAfterMs?: number;
}

/** A remote service (a model hub, an image registry) refused or failed a request, or could not be reached. */
export class ServiceError extends DownloadModelsError {
  override name = "ServiceError";
  constructor(
    message: string,
    readonly info: ServiceErrorInfo = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The hub answered with an error the user can act on (missing, private, gated, rate limited…). */
export class HubError extends ServiceError {
  override name = "HubError";
}

/** A file kept failing with errors worth retrying (network, stalls, 5xx) until its attempts ran out. */
export class DownloadGaveUpError extends HubError {
  override name = "DownloadGaveUpError";
  constructor(
    message: string,
    /** The file, as `path of org/name@rev`. */
    readonly file: string,
    /** The URL of the last attempt, redacted. */
    readonly url: string,
    readonly attempts: number,
    options?: { cause?: unknown },
  ) {
    super(message, { url, retryable: true }, options);
  }
}

/** Downloaded bytes do not match what the hub published. */
export class IntegrityError extends DownloadModelsError {
  override name = "IntegrityError";
}

/**
 * The bytes written could not be read back to verify them (a read error or a file shorter than written, e.g. truncated
 * by another program): nothing was renamed into place and the written ranges are kept for the next run.
 */
export class VerifyReadError extends DownloadModelsError {
  override name = "VerifyReadError";
}

/** A source resolved a listing the core refuses to write (no commit, duplicate or unsafe paths, bad sizes or URLs). */
export class SnapshotError extends DownloadModelsError {
  override name = "SnapshotError";
  constructor(
    message: string,
    /** `org/name@rev` */
    readonly model: string,
    /** The listed path at fault, if one is. */
    readonly path?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A ModelScope cache record (`.msc`, `.mdl`: Python pickles) that is not in a form this tool reads. */
export class PickleFormatError extends DownloadModelsError {
  override name = "PickleFormatError";
  constructor(
    message: string,
    /** The record file, when the reader knows it. */
    readonly file: string | undefined,
    /** Where in the file reading stopped. */
    readonly offset: number,
  ) {
    super(message);
  }
}

/** The tool's own files are missing or broken (no package.json of its own above its code): reinstall it. */
export class InstallationError extends DownloadModelsError {
  override name = "InstallationError";
}

/** A path that would leave the directory it must stay in (`..`, absolute, a symbolic link out of the root). */
export class UnsafePathError extends DownloadModelsError {
  override name = "UnsafePathError";
  constructor(
    message: string,
    readonly path: string,
    readonly reason: string,
  ) {
    super(message);
  }
}

/** Too little free space under a root for what a model still needs. */
export class DiskSpaceError extends DownloadModelsError {
  override name = "DiskSpaceError";
  constructor(
    message: string,
    readonly root: string,
    /** Bytes the model still needs. */
    readonly need: number,
    /** Bytes free for this model (after what other models of the run reserved). */
    readonly free: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Why a model's remaining files were stopped: another of its files failed for good. Never the error to report (the
 * sibling's own error is).
 */
export class SiblingFailedError extends DownloadModelsError {
  override name = "SiblingFailedError";
  constructor(readonly sibling: unknown) {
    super("another file of this model failed", { cause: sibling });
  }
}

/** The run was stopped by the user (SIGINT, SIGTERM) or by the caller's AbortSignal; what was written is kept. */
export class InterruptedError extends DownloadModelsError {
  override name = "InterruptedError";
  override readonly exitCode: number;
  constructor(
    message: string,
    /** The signal that stopped the run, when one did. */
    readonly signal?: "SIGINT" | "SIGTERM",
  ) {
    super(message);
    this.exitCode = signal === "SIGTERM" ? 143 : 130;
  }
}

/** A file changed on the server after it was listed (other size or content): a new run lists it again. */
export class RemoteFileChangedError extends DownloadModelsError {
  override name = "RemoteFileChangedError";
}

/** A local file changed while it was read (another process rewrote or removed it): a new run reads it again. */
export class LocalFileChangedError extends DownloadModelsError {
  override name = "LocalFileChangedError";
}

/** Another process took over a download whose lease it judged stale; this process stops writing the file. */
export class LeaseLostError extends DownloadModelsError {
  override name = "LeaseLostError";
}

/** The server sent more bytes than the range asked for; nothing of that answer is written. */
export class OverlongResponseError extends DownloadModelsError {
  override name = "OverlongResponseError";
}

/** A model's include/exclude filters match none of its files. */
export class NoMatchingFilesError extends DownloadModelsError {
  override name = "NoMatchingFilesError";
}

/** No byte arrived for the stall timeout: the attempt is aborted (and retried by whoever owns the retries). */
export class StalledError extends DownloadModelsError {
  override name = "StalledError";
  constructor(readonly stallMs?: number) {
    super(stallMs ? `no data for ${Math.round(stallMs / 1000)} s` : "no data arrived for too long");
  }
}

/** What code using the library branches on: the error's class name, or its `code` for system errors (ENOSPC…). */
export function errorKind(error: unknown): string {
  if (error instanceof DownloadModelsError) return error.name;
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === "string" && code) return code;
  return error instanceof Error ? error.name : "Error";
}
