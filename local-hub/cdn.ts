import type { IncomingMessage, ServerResponse } from "node:http";
import { findBlob, type HubContext } from "./context.ts";
import { serveFile } from "./serve-file.ts";

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
