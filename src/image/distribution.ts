import { createHash } from "node:crypto";
import { ImageError, RegistryError } from "./errors.ts";
import { MANIFEST_ACCEPT, type RegistryClient } from "./registry.ts";
import { header } from "../net/index.ts";

// The distribution API calls a push and a base pull need: HEAD/GET/mount/upload blobs, GET/PUT manifests.

export const sha256 = (bytes: Buffer) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

export async function blobExists(client: RegistryClient, repo: string, digest: string): Promise<boolean> {
  const res = await client.request("HEAD", client.url(`/v2/${repo}/blobs/${digest}`), { ok: [200, 404], what: `blob ${digest} in ${repo}` });
  await res.body.dump();
  return res.status === 200;
}

/** Cross-repository mount: 201 = mounted; 202 = the registry opened an upload session instead (its Location). */
export async function mountBlob(client: RegistryClient, { repo, digest, from }: { repo: string; digest: string; from: string }): Promise<{ mounted: true } | { mounted: false; location: string }> {
  const url = client.url(`/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`);
  const res = await client.request("POST", url, { headers: { "content-length": "0" }, body: Buffer.alloc(0), ok: [201, 202], what: `mount of ${digest} from ${from} into ${repo}` });
  await res.body.dump();
  if (res.status === 201) return { mounted: true };
  return { mounted: false, location: new URL(requireLocation(res.headers, "mount"), url).href };
}

function requireLocation(headers: Parameters<typeof header>[0], what: string): string {
  const location = header(headers, "location");
  if (!location) throw new RegistryError(`the registry answered a blob ${what} without a Location`);
  return location;
}

export interface UploadOptions {
  repo: string;
  digest: string;
  size: number;
  /** The bytes, read once; hashed on the way and checked against `digest` before the upload is finished. */
  body: Buffer | AsyncIterable<Buffer>;
  /** An upload session already open (a mount that answered 202). */
  location?: string;
  what: string;
  onBytes?: (n: number) => void;
}

/**
 * POST → one streamed PATCH with the whole blob → PUT `?digest=` (the pattern of widely used clients). Each step
 * uses the Location of the previous answer, resolved against its URL, keeping its query. Bytes that do not hash to
 * `digest` (a file changed while it was read) cancel the session and fail: the registry never gets a wrong blob.
 */
export async function uploadBlob(client: RegistryClient, o: UploadOptions): Promise<void> {
  let location = o.location;
  if (!location) {
    const start = client.url(`/v2/${o.repo}/blobs/uploads/`);
    const res = await client.request("POST", start, { headers: { "content-length": "0" }, body: Buffer.alloc(0), ok: [202], what: o.what });
    await res.body.dump();
    location = new URL(requireLocation(res.headers, "upload"), start).href;
  }
  const hash = createHash("sha256");
  let seen = 0;
  async function* tapped(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      hash.update(chunk);
      seen += chunk.length;
      client.bytesSent += chunk.length;
      o.onBytes?.(chunk.length);
      yield chunk;
    }
  }
  try {
    if (o.size > 0) {
      const body = Buffer.isBuffer(o.body) ? o.body : tapped(o.body);
      if (Buffer.isBuffer(o.body)) {
        hash.update(o.body);
        seen = o.body.length;
        client.bytesSent += o.body.length;
        o.onBytes?.(o.body.length);
      }
      const res = await client.request("PATCH", location, {
        headers: { "content-type": "application/octet-stream", "content-length": String(o.size), "content-range": `0-${o.size - 1}` },
        body,
        ok: [202],
        what: o.what,
      });
      await res.body.dump();
      location = new URL(requireLocation(res.headers, "chunk"), location).href;
    }
    const got = `sha256:${hash.digest("hex")}`;
    if (seen !== o.size || got !== o.digest) {
      throw new ImageError(`${o.what}: the bytes read (${seen} bytes, ${got}) are not those hashed before (${o.size} bytes, ${o.digest}): a file changed while the image was built; run the command again`);
    }
    const finish = new URL(location);
    finish.searchParams.set("digest", o.digest);
    const res = await client.request("PUT", finish.href, { headers: { "content-length": "0" }, body: Buffer.alloc(0), ok: [201], what: o.what });
    await res.body.dump();
    const stored = header(res.headers, "docker-content-digest");
    if (stored && stored !== o.digest) throw new RegistryError(`${o.what}: the registry stored ${stored}, not ${o.digest}`);
  } catch (error) {
    // Leave no half-written session behind; its failure does not matter.
    await client.request("DELETE", location, { ok: [202, 204, 404], what: o.what }).then((r) => r.body.dump(), () => undefined);
    throw error;
  }
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

/** GET a manifest or index with every type we read; its bytes must hash to the digest the registry names. */
export async function getManifest(client: RegistryClient, repo: string, ref: string): Promise<FetchedManifest> {
  const res = await client.request("GET", client.url(`/v2/${repo}/manifests/${ref}`), { headers: { accept: MANIFEST_ACCEPT }, ok: [200], what: `manifest ${repo}:${ref}` });
  const bytes = Buffer.from(await res.body.arrayBuffer());
  const digest = sha256(bytes);
  const named = header(res.headers, "docker-content-digest");
  if ((named && named !== digest) || (ref.startsWith("sha256:") && ref !== digest)) {
    throw new RegistryError(`manifest ${repo}:${ref}: the bytes hash to ${digest}, not ${named ?? ref}`);
  }
  const mediaType = (JSON.parse(bytes.toString("utf8")) as { mediaType?: string }).mediaType ?? (header(res.headers, "content-type") ?? "").split(";")[0]!.trim();
  return { bytes, mediaType, digest };
}

export async function getBlob(client: RegistryClient, repo: string, digest: string): Promise<Buffer> {
  const res = await client.request("GET", client.url(`/v2/${repo}/blobs/${digest}`), { ok: [200], what: `blob ${digest} of ${repo}` });
  const bytes = Buffer.from(await res.body.arrayBuffer());
  if (sha256(bytes) !== digest) throw new RegistryError(`blob ${digest} of ${repo}: the bytes hash to ${sha256(bytes)}`);
  return bytes;
}

/** A blob as a stream (base layers copied from another registry); the uploader or writer checks the digest. */
export async function streamBlob(client: RegistryClient, repo: string, digest: string): Promise<AsyncIterable<Buffer>> {
  const res = await client.request("GET", client.url(`/v2/${repo}/blobs/${digest}`), { ok: [200], what: `blob ${digest} of ${repo}` });
  return res.body as AsyncIterable<Buffer>;
}

/** Store a manifest under `ref` (a tag or its digest); the registry's digest of what it stored is checked. */
export async function putManifest(client: RegistryClient, { repo, ref, mediaType, bytes }: { repo: string; ref: string; mediaType: string; bytes: Buffer }): Promise<void> {
  const res = await client.request("PUT", client.url(`/v2/${repo}/manifests/${ref}`), {
    headers: { "content-type": mediaType },
    body: bytes,
    ok: [201],
    what: `manifest ${repo}:${ref}`,
  });
  await res.body.dump();
  client.bytesSent += bytes.length;
  const stored = header(res.headers, "docker-content-digest");
  if (stored && stored !== sha256(bytes)) throw new RegistryError(`manifest ${repo}:${ref}: the registry stored ${stored}, not ${sha256(bytes)}`);
}
