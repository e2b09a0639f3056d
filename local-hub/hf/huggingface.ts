import type { IncomingMessage, ServerResponse } from "node:http";
import type { HubContext } from "../context.ts";
import { handlePathsInfo, handleRevision, handleTree } from "./api.ts";
import { handleResolve, handleResolveCache } from "./resolve.ts";
import { sendHubError } from "../reply.ts";

type Route =
  | { kind: "revision" | "paths-info"; repoId: string; revision: string }
  | { kind: "tree"; repoId: string; revision: string; dir: string }
  | { kind: "resolve" | "resolve-cache"; repoId: string; revision: string; path: string };

// Revisions arrive fully percent-encoded (`refs%2Fpr%2F1`); file paths keep their `/` but each
// segment may be encoded. Throws URIError on malformed escapes.
function decodePath(segments: string[]): string {
  return segments.filter((s) => s !== "").map(decodeURIComponent).join("/");
}

function matchRoute(method: string, segments: string[]): Route | undefined {
  const [first, second, third, fourth, fifth, sixth] = segments;
  const isRead = method === "GET" || method === "HEAD";
  if (first === "api" && second === "models" && third && fourth && sixth !== undefined) {
    const repoId = `${third}/${fourth}`;
    if (fifth === "revision" && method === "GET") {
      return { kind: "revision", repoId, revision: decodePath(segments.slice(5)) };
    }
    if (fifth === "tree" && method === "GET") {
      return { kind: "tree", repoId, revision: decodeURIComponent(sixth), dir: decodePath(segments.slice(6)) };
    }
    if (fifth === "paths-info" && method === "POST") {
      return { kind: "paths-info", repoId, revision: decodePath(segments.slice(5)) };
    }
    return undefined;
  }
  if (first === "api" && second === "resolve-cache" && third === "models" && fourth && fifth && sixth && isRead) {
    const path = decodePath(segments.slice(6));
    if (path === "") return undefined;
    return { kind: "resolve-cache", repoId: `${fourth}/${fifth}`, revision: sixth, path };
  }
  if (first !== "api" && first && second && third === "resolve" && fourth !== undefined && isRead) {
    const path = decodePath(segments.slice(4));
    if (path === "") return undefined;
    return { kind: "resolve", repoId: `${first}/${second}`, revision: decodeURIComponent(fourth), path };
  }
  return undefined;
}

/** Routes a hub-listener request; returns false when the URL is not one of the emulated HF routes. */
export function handleHuggingFace(req: IncomingMessage, res: ServerResponse, ctx: HubContext): boolean {
  const url = new URL(req.url ?? "/", ctx.hubUrl);
  let route: Route | undefined;
  try {
    route = matchRoute(req.method ?? "GET", url.pathname.split("/").slice(1));
  } catch {
    sendHubError(res, 400, "Malformed percent-encoding in URL");
    return true;
  }
  if (!route) return false;
  const { repoId, revision } = route;
  switch (route.kind) {
    case "revision":
      handleRevision(req, res, ctx, { repoId, revision, url });
      break;
    case "tree":
      handleTree(req, res, ctx, { repoId, revision, url, dir: route.dir });
      break;
    case "paths-info":
      handlePathsInfo(req, res, ctx, { repoId, revision, url }).catch(() => res.destroy());
      break;
    case "resolve":
      handleResolve(req, res, ctx, { repoId, revision, path: route.path });
      break;
    case "resolve-cache":
      handleResolveCache(req, res, ctx, { repoId, revision, path: route.path });
      break;
  }
  return true;
}
