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

// Stores allow requests signed up to this far from their clock (AWS: 15 min; RunPod more): beyond, a 403 is the clock.
const SKEW_SUSPECT_S = 900;

/**
 * How far this machine's clock is from the server's, in seconds (server minus ours), when the answer tells: the
 * times of a RequestTimeTooSkewed body, else the response's Date header.
 */
export function clockOffsetSeconds(error: unknown, now = Date.now()): number | undefined {
  type Times = { ServerTime?: string; RequestTime?: string };
  const e = error as (Times & { Error?: Times; $response?: { headers?: Record<string, string | undefined> } }) | undefined;
  const server = parseTime(e?.ServerTime ?? e?.Error?.ServerTime);
  const sent = parseTime(e?.RequestTime ?? e?.Error?.RequestTime);
  if (Number.isFinite(server) && Number.isFinite(sent)) return Math.round((server - sent) / 1000);
  const date = e?.$response?.headers?.date ?? e?.$response?.headers?.Date;
  const at = date ? Date.parse(date) : NaN;
  return Number.isFinite(at) ? Math.round((at - now) / 1000) : undefined;
}

// ISO times, HTTP dates, and the compact form AWS signs with (20261202T193000Z).
function parseTime(value: string | undefined): number {
  if (!value) return NaN;
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : Date.parse(value);
}

function clockMessage(offset: number | undefined): string {
  if (offset === undefined) return "your clock is off the volume's server by more than it allows: fix the clock (NTP) and run again.";
  return `your clock is ${Math.abs(offset)} s off the volume's server: fix the clock (NTP) and run again.`;
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
  const offset = clockOffsetSeconds(error);
  if (code === "RequestTimeTooSkewed" || code === "RequestExpired" || code === "RequestInTheFuture") return fail(clockMessage(offset));
  // Some stores (RunPod) answer a skewed signature with a plain 403: the server's Date says whether that is why.
  if (s3Status(error) === 403 && offset !== undefined && Math.abs(offset) > SKEW_SUSPECT_S) return fail(clockMessage(offset));
  if (code === "CredentialsProviderError") return fail(`no credentials: ${error instanceof Error ? error.message : String(error)}`);
  if (code === "AccessDenied" || s3Status(error) === 403) return fail(`access denied to ${where}: the credentials (${names.key}) have no access to it.`);
  return fail(`checking ${where} at ${endpoint} failed: ${describeS3Error(error)}.`);
}

export interface CheckOptions {
  /** Per-request timeout of the check. @default 15_000 */
  timeoutMs?: number;
  /** Ends the check at once (the run was interrupted). */
  signal?: AbortSignal;
  /** Called when targets have not answered for `waitingAfterMs`, and every 10 s after, with the pending ones. */
  onWaiting?: (pending: { label: string; endpoint: string }[], waitedMs: number) => void;
  /** @default 3000 */
  waitingAfterMs?: number;
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
    await client.send(new HeadBucketCommand({ Bucket: conn.target.bucket }), { requestTimeout, abortSignal: options.signal });
  } catch (headError) {
    if (options.signal?.aborted) throw options.signal.reason;
    if (s3Status(headError) !== 403 && s3Status(headError) !== 400) throw explainTargetError(conn, headError);
    try {
      await client.send(new ListObjectsV2Command({ Bucket: conn.target.bucket, Prefix: conn.target.prefix, MaxKeys: 1 }), { requestTimeout, abortSignal: options.signal });
    } catch (listError) {
      if (options.signal?.aborted) throw options.signal.reason;
      throw explainTargetError(conn, listError);
    }
    throw explainTargetError(conn, headError);
  } finally {
    client.destroy();
  }
}

/** Check every target at once: the usable ones, and one error per unusable one. */
export async function checkTargets(conns: S3Connection[], options: CheckOptions = {}): Promise<{ usable: S3Connection[]; failures: S3TargetError[] }> {
  const pending = new Set(conns);
  const started = Date.now();
  // An unreachable endpoint takes up to half a minute to give up: say what is awaited instead of staying silent.
  const tell = () => {
    if (pending.size) options.onWaiting?.([...pending].map((c) => ({ label: c.target.label, endpoint: c.target.endpoint ?? "AWS S3" })), Date.now() - started);
  };
  let timer: NodeJS.Timeout | undefined = setTimeout(function again() {
    tell();
    timer = setTimeout(again, 10_000);
  }, options.waitingAfterMs ?? 3000);
  try {
    const results = await Promise.all(
      conns.map((c) => checkTarget(c, options).then(() => undefined, (e: unknown) => e).finally(() => pending.delete(c))),
    );
    if (options.signal?.aborted) throw options.signal.reason;
    const failure = results.find((r) => r !== undefined && !(r instanceof S3TargetError));
    if (failure) throw failure;
    return { usable: conns.filter((_, i) => !results[i]), failures: results.filter((r): r is S3TargetError => r !== undefined) };
  } finally {
    clearTimeout(timer);
  }
}
