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

/** The hub answered with an error the user can act on (missing, private, gated, rate limited…). */
export class HubError extends DownloadModelsError {
  override name = "HubError";
  constructor(
    message: string,
    readonly info: { status?: number; code?: string; url?: string; retryable?: boolean; retryAfterMs?: number },
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Downloaded bytes do not match what the hub published. */
export class IntegrityError extends DownloadModelsError {
  override name = "IntegrityError";
}

/** A source exists but cannot be used (yet). */
export class SourceUnavailableError extends DownloadModelsError {
  override name = "SourceUnavailableError";
}
