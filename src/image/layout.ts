import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, readdir, readFile, rename, rm } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { entryExists, writeFileAtomic } from "../util/index.ts";
import { deadOnThisHost } from "../transfer/index.ts";
import type { Descriptor } from "./base.ts";
import { streamBlob } from "./distribution.ts";
import { ImageError } from "./errors.ts";
import { MEDIA } from "./layer.ts";
import type { RegistryClient } from "./registry.ts";

export type BlobStatus = "sent" | "exists" | "mounted" | "written";

/** One blob of the image and what happened to it at the target. */
export interface LayerSummary {
  title: string;
  digest: string;
  size: number;
  status: BlobStatus;
  kind: "base" | "model" | "records" | "config";
}

export interface LayoutInput {
  dir: string;
  tag: string;
  manifest: Buffer;
  config: Buffer;
  base: { client: RegistryClient; repository: string; layers: Descriptor[] } | undefined;
  layers: { title: string; kind: "model" | "records"; digest: string; size: number; open: () => { stream: AsyncIterable<Buffer>; onBytes: (n: number) => void } }[];
  onBlob: (l: LayerSummary) => void;
  /** Stops the blob being written (its temporary file goes); blobs already renamed stay for the next run. */
  signal?: AbortSignal;
}

const blobPath = (dir: string, digest: string) => join(dir, "blobs", "sha256", digest.slice("sha256:".length));

// Blobs being written: `.tmp-<host>:<pid>:<random>`, so a later run can tell those of a killed process.
const TEMP = ".tmp-";

/** Temporary blobs of runs that died (kill -9, power loss): never referenced, only in the way of tools that list blobs. */
async function removeDeadTemps(dir: string): Promise<void> {
  const blobs = join(dir, "blobs", "sha256");
  for (const name of await readdir(blobs).catch(() => [] as string[])) {
    if (name.startsWith(TEMP) && deadOnThisHost(name.slice(TEMP.length))) await rm(join(blobs, name), { force: true });
  }
}

/** Write a blob under a temp name inside blobs/ while hashing it; renamed to its digest only when it matches. */
async function writeBlob(dir: string, digest: string, source: AsyncIterable<Buffer> | Buffer, onBytes?: (n: number) => void, signal?: AbortSignal): Promise<number> {
  const temp = join(dir, "blobs", "sha256", `${TEMP}${hostname()}:${process.pid}:${randomBytes(6).toString("hex")}`);
  const hash = createHash("sha256");
  let size = 0;
  async function* tap(src: AsyncIterable<Buffer> | Iterable<Buffer>) {
    for await (const chunk of src) {
      signal?.throwIfAborted();
      hash.update(chunk);
      size += chunk.length;
      onBytes?.(chunk.length);
      yield chunk;
    }
  }
  try {
    await pipeline(Readable.from(tap(Buffer.isBuffer(source) ? [source] : source)), createWriteStream(temp));
    const got = `sha256:${hash.digest("hex")}`;
    if (got !== digest) throw new ImageError(`blob ${digest}: the bytes written hash to ${got} (a file changed while the image was written?); run the command again`);
    await rename(temp, blobPath(dir, digest));
    return size;
  } finally {
    await rm(temp, { force: true });
  }
}

/**
 * An OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`) with every blob the image references, base
 * layers included (skopeo and umoci need them). Blobs already there are kept; index.json gets or replaces the entry
 * of this tag only. Returns the bytes written.
 */
export async function writeLayout(input: LayoutInput): Promise<number> {
  const { dir } = input;
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  await removeDeadTemps(dir);
  await writeFileAtomic(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  let written = 0;
  for (const l of input.base?.layers ?? []) {
    const title = `base ${l.digest.slice(7, 19)}`;
    if (await entryExists(blobPath(dir, l.digest))) {
      input.onBlob({ title, digest: l.digest, size: l.size, status: "exists", kind: "base" });
      continue;
    }
    written += await writeBlob(dir, l.digest, await streamBlob(input.base!.client, input.base!.repository, l.digest), undefined, input.signal);
    input.onBlob({ title, digest: l.digest, size: l.size, status: "written", kind: "base" });
  }
  for (const l of input.layers) {
    if (await entryExists(blobPath(dir, l.digest))) {
      input.onBlob({ title: l.title, digest: l.digest, size: l.size, status: "exists", kind: l.kind });
      continue;
    }
    const blob = l.open();
    written += await writeBlob(dir, l.digest, blob.stream, blob.onBytes, input.signal);
    input.onBlob({ title: l.title, digest: l.digest, size: l.size, status: "written", kind: l.kind });
  }
  const config = JSON.parse(input.manifest.toString("utf8")) as { config: Descriptor };
  for (const [bytes, digest] of [[input.config, config.config.digest], [input.manifest, `sha256:${createHash("sha256").update(input.manifest).digest("hex")}`]] as const) {
    if (!(await entryExists(blobPath(dir, digest)))) written += await writeBlob(dir, digest, bytes);
  }
  const indexPath = join(dir, "index.json");
  const index = (await entryExists(indexPath))
    ? (JSON.parse(await readFile(indexPath, "utf8")) as { manifests?: Descriptor[] })
    : { manifests: [] as Descriptor[] };
  const entry: Descriptor = {
    mediaType: MEDIA.manifest,
    digest: `sha256:${createHash("sha256").update(input.manifest).digest("hex")}`,
    size: input.manifest.length,
    annotations: { "org.opencontainers.image.ref.name": input.tag },
  };
  const manifests = (index.manifests ?? []).filter((m) => m.annotations?.["org.opencontainers.image.ref.name"] !== input.tag);
  await writeFileAtomic(indexPath, JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests: [...manifests, entry] }));
  return written;
}
