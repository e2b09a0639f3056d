import { defaultBranch, type HubCommit, type HubFile, type HubRepo } from "./repo.ts";
import type { Fault, FaultMix } from "./faults.ts";
import type { ConnectionShaper } from "./throttle.ts";

/** What the route handlers of both listeners share. */
export interface HubContext {
  hubUrl: string;
  cdnUrl: string;
  /** Keyed by `repoKey`. */
  repos: ReadonlyMap<string, HubRepo>;
  tokens: ReadonlySet<string>;
  gatedAcceptedTokens: ReadonlySet<string>;
  pageSize: number;
  /** CDN signature -> the file it was issued for, so the CDN serves exactly what the hub resolved. */
  signedUrls: Map<string, HubFile>;
  countBytes(bytes: number): void;
  /** Injected failures of file responses (fault-tolerance tests). */
  faults?: { mix: FaultMix; random: () => number; count(fault: Fault): void };
  /** Per-connection caps on file bodies (benchmarks, slow-link tests), and the count of connections that carried one. */
  shaper: ConnectionShaper;
}

export function repoKey(source: HubRepo["source"], id: string): string {
  return `${source}:${id}`;
}

const COMMIT_SHA = /^[0-9a-f]{40}$/;

/** A branch, a tag, `HEAD` (= the default branch) or a full commit sha of the repo. */
export function resolveRevision(repo: HubRepo, revision: string): HubCommit | undefined {
  const sha = revision === "HEAD" ? repo.refs[defaultBranch(repo.source)] : (repo.refs[revision] ?? (COMMIT_SHA.test(revision) ? revision : undefined));
  return repo.commits.find((commit) => commit.sha === sha);
}

export function findBlob(ctx: HubContext, sha256: string): HubFile | undefined {
  for (const repo of ctx.repos.values()) {
    for (const commit of repo.commits) {
      const file = commit.files.find((f) => f.sha256 === sha256);
      if (file) return file;
    }
  }
  return undefined;
}
