import { createGzip } from "node:zlib";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { digester, layerTar, type LayerEntry } from "./tar.ts";

export type Compression = "none" | "gzip";

export const MEDIA = {
  manifest: "application/vnd.oci.image.manifest.v1+json",
  index: "application/vnd.oci.image.index.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar",
  layerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
} as const;

export function layerMediaType(compression: Compression): string {
  return compression === "gzip" ? MEDIA.layerGzip : MEDIA.layer;
}

export interface BlobDigests {
  /** Of the blob as stored and sent. */
  digest: string;
  size: number;
  /** Of the uncompressed tar (the config's `rootfs.diff_ids`). */
  diffId: string;
}

/**
 * A layer's blob as a stream, and its digests once the stream has ended. Uncompressed (the default) the blob is
 * the tar, so digest == diff_id. gzip: fixed level, no name, mtime 0 (Node's own zlib), hashed on both sides.
 */
export function layerBlob(entries: LayerEntry[], epoch: number, compression: Compression): { stream: AsyncIterable<Buffer>; result: () => BlobDigests } {
  const tar = digester();
  const tarBytes = tar.tap(layerTar(entries, epoch));
  if (compression === "none") {
    return { stream: tarBytes, result: () => ({ ...tar.result(), diffId: tar.result().digest }) };
  }
  const blob = digester();
  const gz = createGzip({ level: 6 });
  // pipeline destroys the gzip stream with the tar's error, so the reader below sees it.
  pipeline(Readable.from(tarBytes), gz).catch(() => undefined);
  return { stream: blob.tap(gz), result: () => ({ ...blob.result(), diffId: tar.result().digest }) };
}

/** Digests of a layer, reading its files once (to ask the registry whether it has the blob before sending it). */
export async function layerDigests({ entries, epoch, compression, signal }: {
  entries: LayerEntry[];
  /** The time every entry carries, so that the same files give the same digest. */
  epoch: number;
  compression: Compression;
  /** Stops the read of the files. */
  signal?: AbortSignal | undefined;
}): Promise<BlobDigests> {
  const blob = layerBlob(entries, epoch, compression);
  // Models of many GB are read here: an interrupt stops the read, not only what comes after it.
  for await (const _ of blob.stream) signal?.throwIfAborted();
  return blob.result();
}
