import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { findBlob, type HubContext } from "./context.ts";
import type { HubFile } from "./repo.ts";
import { serveFile } from "./serve-file.ts";

// Signatures are only remembered so the CDN can serve the exact file resolved; keep the map bounded.
const MAX_SIGNED_URLS = 10_000;

/** A fresh signed CDN URL for `file`, the way the hubs hand out pre-signed S3/OSS links. */
export function signedCdnUrl(ctx: HubContext, file: HubFile): string {
  const signature = randomBytes(32).toString("hex");
  if (ctx.signedUrls.size >= MAX_SIGNED_URLS) ctx.signedUrls.clear();
  ctx.signedUrls.set(signature, file);
  return `${ctx.cdnUrl}/cdn/${file.sha256}?X-Amz-Signature=${signature}&X-Amz-Expires=3600`;
}

/**
 * The CDN listener: `GET|HEAD /cdn/{sha256}?X-Amz-Signature=…`. Like a signed S3/CloudFront URL it never
 * looks at tokens. Returns false for any other request.
 */
export function handleCdn(req: IncomingMessage, res: ServerResponse, ctx: HubContext): boolean {
  if (req.method !== "GET" && req.method !== "HEAD") return false;
  const url = new URL(req.url ?? "/", ctx.cdnUrl);
  const sha256 = url.pathname.match(/^\/cdn\/([0-9a-f]{64})$/)?.[1];
  if (!sha256) return false;
  const signed = ctx.signedUrls.get(url.searchParams.get("X-Amz-Signature") ?? "");
  const file = signed?.sha256 === sha256 ? signed : findBlob(ctx, sha256);
  if (!file) return false;
  serveFile(req, res, ctx, file, { ETag: `"${sha256}"` });
  return true;
}
