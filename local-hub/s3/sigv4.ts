import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** Why a request is refused, as S3 says it. */
export interface AuthFailure {
  status: number;
  code: string;
  message: string;
}

export interface SignedRequest {
  method: string;
  /** Path and query exactly as sent (still percent-encoded). */
  rawUrl: string;
  headers: IncomingHttpHeaders;
}

const AUTH_RE = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

// RFC 3986 unreserved characters stay, everything else is %XX with upper-case hex: SigV4's encoding.
function sigv4Encode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function canonicalQuery(query: string): string {
  if (!query) return "";
  const pairs = query.split("&").filter(Boolean).map((pair) => {
    const eq = pair.indexOf("=");
    const name = decodeURIComponent((eq < 0 ? pair : pair.slice(0, eq)).replace(/\+/g, "%20"));
    const value = eq < 0 ? "" : decodeURIComponent(pair.slice(eq + 1).replace(/\+/g, "%20"));
    return [sigv4Encode(name), sigv4Encode(value)] as const;
  });
  pairs.sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1));
  return pairs.map(([n, v]) => `${n}=${v}`).join("&");
}

function headerValue(headers: IncomingHttpHeaders, name: string): string {
  const value = headers[name];
  const text = Array.isArray(value) ? value.join(",") : (value ?? "");
  return text.trim().replace(/\s+/g, " ");
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

/** `x-amz-date` (`YYYYMMDDTHHMMSSZ`) as epoch milliseconds, or NaN. */
export function amzDateMs(value: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return NaN;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

/**
 * Check an AWS Signature Version 4 header signature the way S3 does: S3 signs the path as sent (no second
 * encoding) and takes the payload hash from `x-amz-content-sha256` (hex or UNSIGNED-PAYLOAD).
 * Returns undefined when the request is authentic and inside the allowed clock skew.
 */
export function checkSignature(req: SignedRequest, creds: S3Credentials, nowMs: number, maxSkewMs: number): AuthFailure | undefined {
  const match = AUTH_RE.exec(headerValue(req.headers, "authorization"));
  if (!match) return { status: 403, code: "AccessDenied", message: "Missing or malformed AWS4-HMAC-SHA256 Authorization header." };
  const [, accessKeyId, day, region, signedHeaderList, signature] = match as unknown as [string, string, string, string, string, string];
  if (accessKeyId !== creds.accessKeyId) {
    return { status: 403, code: "InvalidAccessKeyId", message: "The AWS Access Key Id you provided does not exist in our records." };
  }
  const amzDate = headerValue(req.headers, "x-amz-date");
  const sentAt = amzDateMs(amzDate);
  if (Number.isNaN(sentAt) || !amzDate.startsWith(day)) {
    return { status: 403, code: "AccessDenied", message: "Missing or malformed x-amz-date." };
  }
  if (Math.abs(sentAt - nowMs) > maxSkewMs) {
    return { status: 403, code: "RequestTimeTooSkewed", message: "The difference between the request time and the current time is too large." };
  }
  const payloadHash = headerValue(req.headers, "x-amz-content-sha256");
  if (!payloadHash) return { status: 400, code: "InvalidRequest", message: "Missing required header for this request: x-amz-content-sha256" };

  const [path = "/", query = ""] = req.rawUrl.split("?", 2) as [string, string?];
  const signedHeaders = signedHeaderList.split(";");
  const canonicalRequest = [
    req.method,
    path,
    canonicalQuery(query),
    ...signedHeaders.map((h) => `${h}:${headerValue(req.headers, h)}`),
    "",
    signedHeaderList,
    payloadHash,
  ].join("\n");
  const scope = `${day}/${region}/s3/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, createHash("sha256").update(canonicalRequest).digest("hex")].join("\n");
  const key = hmac(hmac(hmac(hmac(`AWS4${creds.secretAccessKey}`, day), region), "s3"), "aws4_request");
  const expected = hmac(key, stringToSign);
  if (!timingSafeEqual(expected, Buffer.from(signature, "hex"))) {
    return {
      status: 403,
      code: "SignatureDoesNotMatch",
      message: "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    };
  }
  return undefined;
}
