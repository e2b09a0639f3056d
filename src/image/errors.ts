import { DownloadModelsError, ServiceError } from "../errors.ts";

/** An image could not be built or written: the message names the model, file or blob and what to do. */
export class ImageError extends DownloadModelsError {
  override name = "ImageError";
}

/** The registry refused or failed a request; `info.status` and `info.code` are the registry's own. */
export class RegistryError extends ServiceError {
  override name = "RegistryError";
}
