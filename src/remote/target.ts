import { UnsafePathError, UsageError } from "../errors.ts";

/** Where one `--volume` writes: an endpoint, a bucket and the key prefix every object goes under. */
export interface S3Target {
  /** The `--volume` value as the user wrote it, for messages and summaries. */
  label: string;
  /** `runpod`: a network volume (its own credentials, never the AWS chain); `s3`: any S3-compatible store. */
  kind: "runpod" | "s3";
  /** Origin with no trailing slash; undefined means AWS S3 itself (s3:// without --s3-endpoint). */
  endpoint: string | undefined;
  bucket: string;
  region: string;
  /** Prefix of every key, empty or ending in `/`, e.g. `models/`. */
  prefix: string;
}

// Pods see the volume at /workspace and workers at /runpod-volume; a Pod fill writes under models/ there.
const RUNPOD_PREFIX = "models/";
const DATACENTER_RE = /^[A-Za-z]+-[A-Za-z]+-\d+$/;
// RunPod volume ids are short lower-case alphanumerics; S3 bucket names allow a little more.
const BUCKET_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

/** The RunPod S3 endpoint of a datacenter: `https://s3api-<dc lower-case>.runpod.io`. */
export function runpodEndpoint(datacenter: string): string {
  return `https://s3api-${datacenter.toLowerCase()}.runpod.io`;
}

function checkEndpoint(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--s3-endpoint "${url}" is not a URL; expected e.g. https://s3.example.com or http://127.0.0.1:9000.`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new UsageError(`--s3-endpoint "${url}" must start with http:// or https://.`);
  }
  if (parsed.search || parsed.hash || (parsed.pathname !== "/" && parsed.pathname !== "")) {
    throw new UsageError(`--s3-endpoint "${url}" must be an origin only (no path or query): the bucket goes in --volume.`);
  }
  return parsed.origin;
}

function checkPrefix(prefix: string, volume: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, "");
  if (trimmed === "") return "";
  for (const segment of trimmed.split("/")) {
    if (segment === "" || segment === "." || segment === "..") {
      throw new UsageError(`--volume "${volume}": the prefix may not contain empty, "." or ".." segments.`);
    }
  }
  if (/^(workspace|runpod-volume)(\/|$)/.test(trimmed)) {
    throw new UsageError(
      `--volume "${volume}": keys are relative to the volume root, so the prefix must not start with ` +
        `"workspace/" or "runpod-volume/" (those are where Pods and workers mount it).`,
    );
  }
  return `${trimmed}/`;
}

function parseS3Url(volume: string, endpoint: string | undefined, region: string | undefined): S3Target {
  const rest = volume.slice("s3://".length);
  const slash = rest.indexOf("/");
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  if (!BUCKET_RE.test(bucket)) {
    throw new UsageError(`--volume "${volume}": "${bucket}" is not a bucket name; expected s3://BUCKET or s3://BUCKET/PREFIX.`);
  }
  const prefix = checkPrefix(slash < 0 ? "" : rest.slice(slash + 1), volume);
  return { label: volume, kind: "s3", endpoint, bucket, region: region ?? "us-east-1", prefix };
}

function parseRunpod(volume: string, endpoint: string | undefined): S3Target {
  const at = volume.indexOf("@");
  const id = volume.slice(0, at);
  const datacenter = volume.slice(at + 1);
  if (id === "" || !BUCKET_RE.test(id)) {
    throw new UsageError(
      `--volume "${volume}": the network volume id before "@" is missing or malformed; expected VOLUME_ID@DATACENTER, e.g. abc123xyz@EU-RO-1.`,
    );
  }
  if (!DATACENTER_RE.test(datacenter)) {
    throw new UsageError(
      `--volume "${volume}": "${datacenter}" does not look like a RunPod datacenter id (letters-letters-digits, ` +
        `e.g. EU-RO-1 or EUR-IS-1; the volume's page in the RunPod console shows it).`,
    );
  }
  const dc = datacenter.toUpperCase();
  return { label: volume, kind: "runpod", endpoint: endpoint ?? runpodEndpoint(dc), bucket: id, region: dc, prefix: RUNPOD_PREFIX };
}

export interface ParseVolumeOptions {
  /** `--s3-endpoint`: overrides the endpoint of either form. */
  endpoint?: string;
  /** Region for s3:// targets. @default "us-east-1" */
  region?: string;
}

/**
 * Parse one `--volume` value: `VOLUME_ID@DATACENTER` (a RunPod network volume; keys under `models/`) or
 * `s3://BUCKET[/PREFIX]`. Throws UsageError (exit 2) with what was expected.
 */
export function parseVolume(volume: string, options: ParseVolumeOptions = {}): S3Target {
  const endpoint = options.endpoint === undefined ? undefined : checkEndpoint(options.endpoint);
  const value = volume.trim();
  if (value.startsWith("s3://")) return parseS3Url(value, endpoint, options.region);
  if (value.includes("@")) return parseRunpod(value, endpoint);
  throw new UsageError(
    `--volume "${volume}" is neither VOLUME_ID@DATACENTER (a RunPod network volume, e.g. abc123xyz@EU-RO-1) nor s3://BUCKET[/PREFIX].`,
  );
}

/** The key of a file under a target: `prefix` + a `/`-separated path relative to the volume's model root. */
export function keyFor(prefix: string, relativePath: string): string {
  const rel = relativePath.split(/[\\/]+/).filter((s) => s !== "").join("/");
  const reason = rel === "" ? "empty path" : rel.split("/").some((s) => s === "." || s === "..") ? "\".\" or \"..\" path segment" : undefined;
  if (reason) {
    // Paths come from the staging store's own files: one outside it means the staging folder changed under the fill.
    throw new UnsafePathError(
      `Refusing to upload "${relativePath}" to the volume: it is not a relative path inside the staging store (${reason}). ` +
        `Check that nothing moves or links files in the staging folder during a fill, then run the command again.`,
      relativePath,
      reason,
    );
  }
  return `${prefix}${rel}`;
}
