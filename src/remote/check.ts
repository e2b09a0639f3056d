import { HeadBucketCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { createS3Client, type S3Connection } from "./client.ts";
import { credentialNames } from "./credentials.ts";
import { S3TargetError } from "./errors.ts";
import { describeS3Error, s3Code, s3Status } from "./retry.ts";

const UNREACHABLE = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "ECONNRESET", "EHOSTUNREACH", "ENETUNREACH", "TimeoutError"]);

function networkCode(error: unknown): string | undefined {
  const e = error as { code?: string; name?: string; cause?: { code?: string } };
  return [e.code, e.name, e.cause?.code].find((c) => c !== undefined && UNREACHABLE.has(c));
}

/** The user-facing reason a target cannot be used, from the error of HeadBucket (or of the listing after a 403). */
export function explainTargetError(conn: S3Connection, error: unknown): S3TargetError {
  const { target } = conn;
  const names = credentialNames(conn.credentials);
  const code = s3Code(error);
  const where = target.kind === "runpod" ? `network volume ${target.bucket} in ${target.region}` : `bucket ${target.bucket}`;
  const endpoint = target.endpoint ?? "AWS S3";
  const fail = (message: string): S3TargetError => new S3TargetError(`--volume ${target.label}: ${message}`, target.label, { cause: error });
  const net = networkCode(error);
  if (net) return fail(`cannot reach ${endpoint} (${net}). Check the datacenter id, --s3-endpoint and the network.`);
  if (code === "NoSuchBucket" || s3Status(error) === 404) {
    return fail(
      target.kind === "runpod"
        ? `no ${where} at ${endpoint}. Check the volume id and its datacenter (a volume is only reachable through the endpoint of its own datacenter).`
        : `${where} does not exist at ${endpoint}.`,
    );
  }
  if (code === "InvalidAccessKeyId") return fail(`the access key is unknown to ${endpoint}: check ${names.key}.`);
  if (code === "SignatureDoesNotMatch") return fail(`the secret does not match the access key: check ${names.secret}.`);
  if (code === "RequestTimeTooSkewed") return fail(`this machine's clock is too far from the server's; set the system clock (e.g. enable NTP) and run again.`);
  if (code === "CredentialsProviderError") return fail(`no credentials: ${error instanceof Error ? error.message : String(error)}`);
  if (code === "AccessDenied" || s3Status(error) === 403) return fail(`access denied to ${where}: the credentials (${names.key}) have no access to it.`);
  return fail(`checking ${where} at ${endpoint} failed: ${describeS3Error(error)}.`);
}

export interface CheckOptions {
  /** Per-request timeout of the check. @default 15_000 */
  timeoutMs?: number;
}

/**
 * Prove a target usable before anything is downloaded: HeadBucket, and when that is refused, one small listing,
 * because a HEAD error has no body to say whether the key or the secret is wrong. Uses its own client with few
 * retries, so an unreachable endpoint fails in seconds. Throws S3TargetError (exit 2).
 */
export async function checkTarget(conn: S3Connection, options: CheckOptions = {}): Promise<void> {
  const client = createS3Client(conn.target, conn.credentials, { maxAttempts: 2, connectionTimeoutMs: 5_000 });
  const requestTimeout = options.timeoutMs ?? 15_000;
  try {
    await client.send(new HeadBucketCommand({ Bucket: conn.target.bucket }), { requestTimeout });
  } catch (headError) {
    if (s3Status(headError) !== 403 && s3Status(headError) !== 400) throw explainTargetError(conn, headError);
    try {
      await client.send(new ListObjectsV2Command({ Bucket: conn.target.bucket, Prefix: conn.target.prefix, MaxKeys: 1 }), { requestTimeout });
    } catch (listError) {
      throw explainTargetError(conn, listError);
    }
    throw explainTargetError(conn, headError);
  } finally {
    client.destroy();
  }
}

/** Check every target at once: the usable ones, and one error per unusable one. */
export async function checkTargets(conns: S3Connection[], options?: CheckOptions): Promise<{ usable: S3Connection[]; failures: S3TargetError[] }> {
  const results = await Promise.all(conns.map((c) => checkTarget(c, options).then(() => undefined, (e: unknown) => e as S3TargetError)));
  return { usable: conns.filter((_, i) => !results[i]), failures: results.filter((r): r is S3TargetError => r !== undefined) };
}
