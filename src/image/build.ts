import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Lock } from "../lockfile/index.ts";
import type { Registry } from "../sources/index.ts";
import { bakedRecords, type BakedModel, type Env, type Roots } from "../store/index.ts";
import type { ModelRequest } from "../types.ts";
import { packageRoot } from "../util/index.ts";
import { pullBase, type BaseImage, type Descriptor, type Platform } from "./base.ts";
import { lookupCredentials, type Credentials } from "./credentials.ts";
import { blobExists, mountBlob, putManifest, sha256, streamBlob, uploadBlob } from "./distribution.ts";
import { ImageError } from "./errors.ts";
import { layerBlob, layerDigests, layerMediaType, MEDIA, type Compression } from "./layer.ts";
import { writeLayout, type BlobStatus, type LayerSummary } from "./layout.ts";

export type { BlobStatus, LayerSummary };
import { holdModels, IMAGE_ROOT, readCompleteModels, type ModelContent } from "./model-files.ts";
import { formatRef, parseImageRef, RegistryClient, type ImageRef } from "./registry.ts";
import { layerEpoch, normaliseEntries, type LayerEntry } from "./tar.ts";

export type ImageOutput =
  | { kind: "registry"; ref: string; insecure?: boolean; credentials?: Credentials }
  | { kind: "layout"; dir: string; tag: string };

export interface BuildImageOptions {
  models: ModelRequest[];
  registry: Registry;
  /** Where the models were downloaded. */
  roots: Roots;
  /** The lock the download followed: its entries of these models go into the records layer. */
  lock?: Lock;
  /** Base image reference, or undefined for a models-only image. */
  base?: string;
  output: ImageOutput;
  platform?: Platform;
  compression?: Compression;
  /** Tool version and free-form notes for the records' header (no clock, no host: the layer stays reproducible). */
  notes?: string[];
  /** SOURCE_DATE_EPOCH, credential files (DOCKER_CONFIG, REGISTRY_AUTH_FILE, HOME). */
  env: Env;
  signal?: AbortSignal;
  onEvent?: (event: ImageEvent) => void;
}


export type ImageEvent =
  | { type: "base"; ref: string; digest: string; layers: number }
  | { type: "layer"; title: string; digest: string; size: number; models: number }
  | { type: "blob"; title: string; digest: string; size: number; status: BlobStatus }
  | { type: "bytes"; title: string; bytes: number; total: number };


export interface ImageSummary {
  /** Where it went: `host/repo:tag` or `oci:DIR:tag`. */
  target: string;
  /** The manifest digest: pull by it to get exactly this image. */
  digest: string;
  base?: { ref: string; digest: string };
  layers: LayerSummary[];
  models: BakedModel[];
  /** Layers (and the config) the target did not have and received; those it had or got by mount. */
  sent: number;
  reused: number;
  /** Bytes of blobs and manifest sent (registry) or written (layout). */
  bytesSent: number;
}

const ENV = {
  HF_HOME: `${IMAGE_ROOT}/huggingface`,
  HF_HUB_CACHE: `${IMAGE_ROOT}/huggingface/hub`,
  HF_HUB_OFFLINE: "1",
  MODELSCOPE_CACHE: `${IMAGE_ROOT}/modelscope`,
  DOWNLOAD_MODELS_DIR: IMAGE_ROOT,
};

const CHECK = "download-models-check";

/** RFC 3339 UTC, whole seconds. */
const rfc3339 = (epoch: number) => new Date(epoch * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");

/** Our environment replaces same-named base entries; the base's other entries (PATH…) stay, in their order. */
function mergeEnv(base: unknown, ours: Record<string, string>): string[] {
  const list = Array.isArray(base) ? (base as string[]) : [];
  const kept = list.filter((e) => !(e.split("=")[0]! in ours));
  return [...kept, ...Object.entries(ours).map(([k, v]) => `${k}=${v}`)];
}

interface Layer {
  title: string;
  kind: "model" | "records";
  entries: LayerEntry[];
  createdBy: string;
  models: number;
}

/**
 * Build an image of one layer per model folder (its complete, verified files in the cache layout under /models)
 * plus a records layer, on a base or on nothing, and push it to a registry (sending only the blobs it lacks) or
 * write an OCI image layout. Same files, lock, base and tool version ⇒ same digests.
 */
export async function buildImage(options: BuildImageOptions): Promise<ImageSummary> {
  const holds = await holdModels(options, options.signal);
  try {
    return await buildHeld(options);
  } finally {
    await Promise.all(holds.map((h) => h.release()));
  }
}

async function buildHeld(options: BuildImageOptions): Promise<ImageSummary> {
  const emit = options.onEvent ?? (() => {});
  const compression = options.compression ?? "none";
  const platform = options.platform ?? { os: "linux", architecture: "amd64" };
  const epoch = layerEpoch(options.env);
  const created = rfc3339(epoch);
  const contents = await readCompleteModels({
    models: options.models,
    registry: options.registry,
    roots: options.roots,
    ...(options.lock ? { lock: options.lock } : {}),
    completedAt: created,
  });

  const target = options.output.kind === "registry" ? parseImageRef(options.output.ref) : undefined;
  const baseRef = options.base ? parseImageRef(options.base) : undefined;
  const clients: RegistryClient[] = [];
  const client = async (ref: ImageRef, scopes: string[], explicit?: Credentials, insecure?: boolean) => {
    const credentials = explicit ?? (await lookupCredentials(ref.host, ref.repository, options.env));
    const c = new RegistryClient({ host: ref.host, scopes, ...(credentials ? { credentials } : {}), ...(insecure ? { insecure } : {}), ...(options.signal ? { signal: options.signal } : {}) });
    clients.push(c);
    return c;
  };
  try {
    const sameHost = Boolean(target && baseRef && target.host === baseRef.host);
    const out = options.output;
    const targetClient = target && out.kind === "registry"
      ? await client(target, [`repository:${target.repository}:pull,push`, ...(sameHost && baseRef!.repository !== target.repository ? [`repository:${baseRef!.repository}:pull`] : [])], out.credentials, out.insecure)
      : undefined;
    const baseClient = baseRef ? (sameHost ? targetClient! : await client(baseRef, [`repository:${baseRef.repository}:pull`], undefined, out.kind === "registry" ? out.insecure : false)) : undefined;
    let base: BaseImage | undefined;
    if (baseRef && baseClient) {
      base = await pullBase(baseClient, baseRef, platform);
      emit({ type: "base", ref: formatRef(baseRef), digest: base.digest, layers: base.layers.length });
    }

    const layers = modelLayers(contents);
    layers.push(await recordsLayer(contents, options, base, baseRef));

    // Digests first (one read of every model), so that a registry that has a layer is never sent it.
    const described: (Descriptor & { diffId: string; layer: Layer })[] = [];
    for (const layer of layers) {
      const d = await layerDigests({ entries: layer.entries, epoch, compression, signal: options.signal });
      emit({ type: "layer", title: layer.title, digest: d.digest, size: d.size, models: layer.models });
      described.push({
        mediaType: layerMediaType(compression),
        digest: d.digest,
        size: d.size,
        diffId: d.diffId,
        layer,
        ...(layer.kind === "model" ? { annotations: { "org.opencontainers.image.title": layer.title } } : {}),
      });
    }

    const configBytes = Buffer.from(JSON.stringify(imageConfig(base, platform, created, described, contents)));
    const config = { mediaType: MEDIA.config, digest: sha256(configBytes), size: configBytes.length };
    const manifest = {
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      config,
      layers: [...(base?.layers ?? []), ...described.map(({ mediaType, digest, size, annotations }) => ({ mediaType, digest, size, ...(annotations ? { annotations } : {}) }))],
      ...(base && baseRef ? { annotations: { "org.opencontainers.image.base.digest": base.digest, "org.opencontainers.image.base.name": formatRef({ ...baseRef, digest: undefined } as ImageRef) } } : {}),
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const digest = sha256(manifestBytes);
    const summary: ImageSummary = {
      target: "",
      digest,
      ...(base && baseRef ? { base: { ref: formatRef(baseRef), digest: base.digest } } : {}),
      layers: [],
      models: contents.flatMap((c) => c.baked),
      sent: 0,
      reused: 0,
      bytesSent: 0,
    };
    const record = (l: LayerSummary) => {
      summary.layers.push(l);
      if (l.status === "sent" || l.status === "written") summary.sent++;
      else summary.reused++;
      emit({ type: "blob", title: l.title, digest: l.digest, size: l.size, status: l.status });
    };
    const modelBlob = (d: (typeof described)[number]) => {
      let done = 0;
      const blob = layerBlob(d.layer.entries, epoch, compression);
      return {
        stream: blob.stream,
        onBytes: (n: number) => {
          done += n;
          emit({ type: "bytes", title: d.layer.title, bytes: done, total: d.size });
        },
      };
    };

    if (out.kind === "layout") {
      summary.target = `oci:${out.dir}:${out.tag}`;
      summary.bytesSent = await writeLayout({
        dir: out.dir,
        tag: out.tag,
        manifest: manifestBytes,
        config: configBytes,
        base: base && baseClient ? { client: baseClient, repository: base.ref.repository, layers: base.layers } : undefined,
        layers: described.map((d) => ({ title: d.layer.title, kind: d.layer.kind, digest: d.digest, size: d.size, open: () => modelBlob(d) })),
        onBlob: record,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      return summary;
    }

    const repo = target!.repository;
    const c = targetClient!;
    summary.target = formatRef({ ...target!, digest: undefined } as ImageRef);
    for (const l of base?.layers ?? []) {
      const title = `base ${l.digest.slice(7, 19)}`;
      if (await blobExists(c, repo, l.digest)) {
        record({ title, digest: l.digest, size: l.size, status: "exists", kind: "base" });
        continue;
      }
      let location: string | undefined;
      if (sameHost) {
        const m = await mountBlob(c, { repo, digest: l.digest, from: baseRef!.repository });
        if (m.mounted) {
          record({ title, digest: l.digest, size: l.size, status: "mounted", kind: "base" });
          continue;
        }
        location = m.location;
      }
      const body = await streamBlob(baseClient!, baseRef!.repository, l.digest);
      await uploadBlob(c, { repo, digest: l.digest, size: l.size, body, what: `base layer ${l.digest} into ${repo}`, ...(location ? { location } : {}) });
      record({ title, digest: l.digest, size: l.size, status: "sent", kind: "base" });
    }
    for (const d of described) {
      const status = (await blobExists(c, repo, d.digest)) ? "exists" : "sent";
      if (status === "sent") {
        const blob = modelBlob(d);
        await uploadBlob(c, { repo, digest: d.digest, size: d.size, body: blob.stream, onBytes: blob.onBytes, what: `layer ${d.layer.title} (${d.digest})` });
      }
      record({ title: d.layer.title, digest: d.digest, size: d.size, status, kind: d.layer.kind });
    }
    if (await blobExists(c, repo, config.digest)) record({ title: "config", digest: config.digest, size: config.size, status: "exists", kind: "config" });
    else {
      await uploadBlob(c, { repo, digest: config.digest, size: config.size, body: configBytes, what: `image config ${config.digest}` });
      record({ title: "config", digest: config.digest, size: config.size, status: "sent", kind: "config" });
    }
    // The tag last: it points at an image whose every blob is already there.
    await putManifest(c, { repo, ref: target!.tag ?? digest, mediaType: MEDIA.manifest, bytes: manifestBytes });
    summary.bytesSent = c.bytesSent;
    return summary;
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

function modelLayers(contents: ModelContent[]): Layer[] {
  return contents.map((c) => ({
    title: c.folder,
    kind: "model",
    entries: normaliseEntries(c.entries),
    createdBy: `download-models image ${c.baked.map((b) => `${b.source}:${b.id}@${b.revision}`).join(" ")}`,
    models: c.baked.length,
  }));
}

/** The last layer: `/models/.download-models/` (what download-models-check reads) and the check itself. */
async function recordsLayer(contents: ModelContent[], options: BuildImageOptions, base: BaseImage | undefined, baseRef: ImageRef | undefined): Promise<Layer> {
  const sums = new Map<string, string>();
  const sizes = new Map<string, number>();
  for (const c of contents) {
    for (const [k, v] of c.sums) sums.set(k, v);
    for (const [k, v] of c.sizes) sizes.set(k, v);
  }
  const header = [...(options.notes ?? []), ...(base && baseRef ? [`base: ${formatRef({ ...baseRef, digest: undefined } as ImageRef)}@${base.digest}`] : ["base: none (models only)"])];
  const records = bakedRecords({
    baked: contents.flatMap((c) => c.baked),
    sums,
    sizes,
    header,
    ...(options.lock ? { lock: options.lock, locked: contents.flatMap((c) => c.locked) } : {}),
  });
  const check = await readFile(join(packageRoot, "serverless", CHECK));
  const dir = `${IMAGE_ROOT.slice(1)}/.download-models`;
  const entries: LayerEntry[] = [
    ...Object.entries(records).map(([name, text]) => ({ type: "data" as const, name: `${dir}/${name}`, data: Buffer.from(text) })),
    { type: "data", name: `${dir}/${CHECK}`, data: check, mode: 0o755 },
    // On PATH where there is a base to run it in.
    ...(base ? [{ type: "data" as const, name: `usr/local/bin/${CHECK}`, data: check, mode: 0o755 }] : []),
  ];
  return { title: "download-models records", kind: "records", entries: normaliseEntries(entries), createdBy: "download-models image records", models: 0 };
}

function imageConfig(
  base: BaseImage | undefined,
  platform: Platform,
  created: string,
  layers: { diffId: string; layer: Layer }[],
  contents: ModelContent[],
): Record<string, unknown> {
  const from = base?.config ?? { architecture: platform.architecture, os: platform.os, ...(platform.variant ? { variant: platform.variant } : {}) };
  const inner = (from.config ?? {}) as Record<string, unknown>;
  const labels = {
    ...((inner.Labels ?? {}) as Record<string, string>),
    "org.opencontainers.image.description": `models baked by download-models: ${contents.flatMap((c) => c.baked.map((b) => `${b.id}@${b.revision}`)).join(", ")}`.slice(0, 1000),
  };
  const rootfs = (from.rootfs ?? { type: "layers", diff_ids: [] }) as { diff_ids?: string[] };
  const history = (Array.isArray(from.history) ? from.history : []) as unknown[];
  return {
    ...from,
    created,
    config: { ...inner, Env: mergeEnv(inner.Env, ENV), Labels: labels },
    rootfs: { type: "layers", diff_ids: [...(rootfs.diff_ids ?? []), ...layers.map((l) => l.diffId)] },
    history: [...history, ...layers.map((l) => ({ created, created_by: l.layer.createdBy }))],
  };
}

export { ImageError };
