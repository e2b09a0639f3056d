import { DownloadModelsError } from "../errors.ts";

/** An image could not be built or written: the message names the model, file or blob and what to do. */
export class ImageError extends DownloadModelsError {
  override name = "ImageError";
}

/** The registry refused or failed a request; `status` and `code` are the registry's own. */
export class RegistryError extends DownloadModelsError {
  override name = "RegistryError";
  constructor(
    message: string,
    readonly info: { status?: number; code?: string; retryable?: boolean } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
