import { S3Client } from "@aws-sdk/client-s3";
import type { S3Credentials } from "./credentials.ts";
import type { S3Target } from "./target.ts";

/** A target with the client that talks to it; one per `--volume`. */
export interface S3Connection {
  target: S3Target;
  client: S3Client;
  /** The same without SDK retries, for calls whose retries we own (Complete, with a timeout that grows). */
  singleTry: S3Client;
  /** Undefined: the SDK's standard AWS chain (s3:// targets only). */
  credentials: S3Credentials | undefined;
}

export interface S3ClientOptions {
  /** SDK attempts per request (its standard mode retries 500–504, throttling and connection errors). @default 10 */
  maxAttempts?: number;
  /** @default 10_000 */
  connectionTimeoutMs?: number;
  /** Sockets per client; the part limiter is the real budget. @default 50 */
  maxSockets?: number;
}

/**
 * An S3 client for RunPod's API: path-style URLs (virtual-host names do not exist there), the endpoint always
 * explicit so that env or profile endpoints cannot redirect it, and no default CRC32 checksums (aws-chunked
 * bodies and checksum trailers are what third-party stores reject); integrity comes from our own MD5 checks.
 * Request timeouts are passed per call, since an UploadPart and a Complete need very different ones.
 */
export function createS3Client(target: S3Target, credentials: S3Credentials | undefined, options: S3ClientOptions = {}): S3Client {
  return new S3Client({
    region: target.region,
    ...(target.endpoint ? { endpoint: target.endpoint } : {}),
    ignoreConfiguredEndpointUrls: true,
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    retryMode: "standard",
    maxAttempts: options.maxAttempts ?? 10,
    ...(credentials
      ? {
          credentials: {
            accessKeyId: credentials.accessKeyId,
            secretAccessKey: credentials.secretAccessKey,
            ...(credentials.sessionToken ? { sessionToken: credentials.sessionToken } : {}),
          },
        }
      : {}),
    requestHandler: {
      connectionTimeout: options.connectionTimeoutMs ?? 10_000,
      throwOnRequestTimeout: true,
      httpAgent: { keepAlive: true, maxSockets: options.maxSockets ?? 50 },
      httpsAgent: { keepAlive: true, maxSockets: options.maxSockets ?? 50 },
    },
  });
}

export function connect(target: S3Target, credentials: S3Credentials | undefined, options?: S3ClientOptions): S3Connection {
  return {
    target,
    client: createS3Client(target, credentials, options),
    singleTry: createS3Client(target, credentials, { ...options, maxAttempts: 1 }),
    credentials,
  };
}

/** Close both clients' sockets. */
export function disconnect(conn: S3Connection): void {
  conn.client.destroy();
  conn.singleTry.destroy();
}
