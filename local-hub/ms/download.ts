import type { IncomingMessage, ServerResponse } from "node:http";
import { signedCdnUrl } from "../cdn.ts";
import type { HubContext } from "../context.ts";
import { requestedCommit, type MsTarget } from "./api.ts";
import { authorizeModel } from "./access.ts";
import { MS_CODES, sendEnvelopeError } from "./reply.ts";
import { serveFile } from "../serve-file.ts";
import { fileAt } from "../tree.ts";

const MiB = 1024 * 1024;

/**
 * `GET|HEAD /api/v1/models/{owner}/{name}/repo?Revision=&FilePath=`. LFS files and files of 1 MiB or more
 * answer 302 to a signed CDN URL (as ModelScope redirects to OSS); smaller ones are served right here.
 */
export function handleDownload(req: IncomingMessage, res: ServerResponse, ctx: HubContext, target: MsTarget): void {
  const repo = authorizeModel(req, res, ctx, target.repoId);
  if (!repo) return;
  const path = target.url.searchParams.get("FilePath");
  if (!path) {
    sendEnvelopeError(res, 400, MS_CODES.badRequest, "FilePath is required");
    return;
  }
  const commit = requestedCommit(res, repo, target.url);
  if (!commit) return;
  const file = fileAt(commit, path);
  if (!file) {
    sendEnvelopeError(res, 404, MS_CODES.fileNotFound, `File ${path} not found in ${repo.id}`);
    return;
  }
  if (file.lfs || file.size >= MiB) {
    res.writeHead(302, { Location: signedCdnUrl(ctx, file), "Content-Length": "0" });
    res.end();
    return;
  }
  serveFile(req, res, ctx, file, {});
}
