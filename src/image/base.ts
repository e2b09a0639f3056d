import { ImageError } from "./errors.ts";
import { getBlob, getManifest } from "./distribution.ts";
import { MEDIA } from "./layer.ts";
import { formatRef, type ImageRef, type RegistryClient } from "./registry.ts";

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
}

/** A base image as pulled: its layers' descriptors (OCI types), its config as an object, and where it came from. */
export interface BaseImage {
  ref: ImageRef;
  /** The manifest digest as pulled (the `org.opencontainers.image.base.digest` annotation). */
  digest: string;
  layers: Descriptor[];
  config: Record<string, unknown>;
}

const DOCKER_LAYERS: Record<string, string> = {
  "application/vnd.docker.image.rootfs.diff.tar.gzip": MEDIA.layerGzip,
  "application/vnd.docker.image.rootfs.diff.tar": MEDIA.layer,
};

/**
 * Resolve a base reference to one linux manifest of the wanted platform (skipping attestation entries of an
 * index), check its config, and map Docker schema2 layer types to their OCI names (blobs and digests unchanged).
 */
export async function pullBase(client: RegistryClient, ref: ImageRef, platform: Platform): Promise<BaseImage> {
  const name = formatRef(ref);
  let fetched = await getManifest(client, ref.repository, ref.digest ?? ref.tag!);
  if (fetched.mediaType === MEDIA.index || fetched.mediaType === MEDIA.dockerList) {
    const index = JSON.parse(fetched.bytes.toString("utf8")) as { manifests: (Descriptor & { annotations?: Record<string, string> })[] };
    const pick = index.manifests.find(
      (m) =>
        m.platform?.os === platform.os &&
        m.platform.architecture === platform.architecture &&
        (!platform.variant || m.platform.variant === platform.variant) &&
        m.annotations?.["vnd.docker.reference.type"] !== "attestation-manifest",
    );
    if (!pick) {
      const have = index.manifests.filter((m) => m.platform).map((m) => `${m.platform!.os}/${m.platform!.architecture}${m.platform!.variant ? `/${m.platform!.variant}` : ""}`);
      throw new ImageError(`base ${name} has no ${platform.os}/${platform.architecture} image (it has: ${have.join(", ") || "none"}); choose --platform or another base`);
    }
    fetched = await getManifest(client, ref.repository, pick.digest);
  }
  if (fetched.mediaType !== MEDIA.manifest && fetched.mediaType !== MEDIA.dockerManifest) {
    throw new ImageError(`base ${name}: a ${fetched.mediaType || "manifest without a media type"} is not an image this tool can extend`);
  }
  const manifest = JSON.parse(fetched.bytes.toString("utf8")) as { config: Descriptor; layers: Descriptor[] };
  const layers = manifest.layers.map((l) => {
    const mediaType = DOCKER_LAYERS[l.mediaType] ?? l.mediaType;
    if (!mediaType.startsWith("application/vnd.oci.image.layer.v1.tar") || mediaType.includes("nondistributable")) {
      throw new ImageError(`base ${name}: layer ${l.digest} is a ${l.mediaType} (foreign or unknown layer), which this tool does not copy`);
    }
    return { mediaType, digest: l.digest, size: l.size };
  });
  const config = JSON.parse((await getBlob(client, ref.repository, manifest.config.digest)).toString("utf8")) as Record<string, unknown>;
  const diffIds = (config.rootfs as { diff_ids?: string[] } | undefined)?.diff_ids ?? [];
  if (diffIds.length !== layers.length) throw new ImageError(`base ${name}: its config lists ${diffIds.length} layers, its manifest ${layers.length}`);
  return { ref, digest: fetched.digest, layers, config };
}
