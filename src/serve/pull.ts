import { Agent } from "../net/index.ts";
import type { Registry } from "../sources/index.ts";
import type { Env, Roots } from "../store/index.ts";
import type { ModelRequest, Snapshot } from "../types.ts";
import { runDownload, type DownloadEvent } from "../download/index.ts";
import { HubError } from "../errors.ts";
import { matchesFilters } from "../util/index.ts";
import { entryFromSnapshot, type Lock } from "../lockfile/index.ts";
import { UpstreamError } from "./context.ts";
import type { HubKind, StoredCommit, StoredFile } from "./store-view.ts";

// Pull-through: a miss is resolved and downloaded upstream by the same downloaders and engine as the CLI (verified,
// committed atomically, manifest last), then served from the store. One fetch per file however many ask at once.

export interface PullOptions {
  /** Upstream hub per protocol; a protocol without one has no pull-through. */
  upstream: Partial<Record<HubKind, string>>;
  /** Repo globs (fnmatch) that may be fetched. @default every repo */
  allow?: string[];
  /**
   * Send the server's own upstream token (HF_TOKEN / MODELSCOPE_API_TOKEN of its environment), which makes gated and
   * private repos it can read available to every client of the mirror. Off: the server fetches anonymously.
   */
  allowPrivate?: boolean;
  registry: Registry;
  roots: Roots;
  /** The server's environment: the upstream token comes from here, never from a client. */
  env: Env;
  signal?: AbortSignal;
  onEvent: (e: { type: "upstream"; event: DownloadEvent } | { type: "upstream-error"; repo: string; message: string }) => void;
}

/** Branch → commit answers are kept this long, so a client's HEAD and GET see the same commit. */
const REF_TTL_MS = 60_000;
const SOURCE: Record<HubKind, string> = { huggingface: "huggingface", modelscope: "modelscope" };
const DEFAULT_REVISION: Record<HubKind, string> = { huggingface: "main", modelscope: "master" };

/** One file of an upstream repo: `revision` as the client named it, `commit` the one it was told (X-Repo-Commit). */
export interface UpstreamFile {
  kind: HubKind;
  id: string;
  revision: string;
  commit: string;
  path: string;
}

export interface PullThrough {
  enabled(kind: HubKind, id: string): boolean;
  /** The commit and whole listing a revision names upstream (cached for a minute). */
  snapshot(kind: HubKind, id: string, revision: string | undefined): Promise<{ revision: string; commit: StoredCommit; createdAt?: number }>;
  /** Download one listed file into the store; resolves once it is verified and committed. */
  fetch(file: UpstreamFile): Promise<void>;
  close(): Promise<void>;
}

/** An fnmatch pattern matching exactly `path` (the include filter of a one-file download). */
const literal = (path: string) => path.replace(/[*?[]/g, (c) => `[${c}]`);

function upstreamError(error: unknown, what: string): UpstreamError {
  if (error instanceof UpstreamError) return error;
  const info = error instanceof HubError ? error.info : {};
  const message = `upstream: ${what}: ${(error as Error)?.message ?? String(error)}`;
  // 404/401/403 are the upstream's answer and pass through with its code; anything else is "could not ask it".
  if (info.status === 404 || info.status === 401 || info.status === 403) {
    const code = info.code ?? (info.status === 404 ? "RepoNotFound" : "GatedRepo");
    return new UpstreamError(message, info.status, code);
  }
  return new UpstreamError(message, 504);
}

export function createPullThrough(options: PullOptions): PullThrough {
  const dispatcher = new Agent({ connections: 16 });
  const snapshots = new Map<string, { at: number; value: Promise<{ revision: string; snapshot: Snapshot }> }>();
  const fetches = new Map<string, Promise<void>>();
  const env = (kind: HubKind): Env => {
    // Only this protocol's upstream, and the token only when the operator allows it.
    const clean = Object.fromEntries(Object.entries(options.env).filter(([k]) => !/^(HF_TOKEN|HUGGING_FACE_HUB_TOKEN|MODELSCOPE_API_TOKEN)$/.test(k) || options.allowPrivate));
    return { ...clean, ...(kind === "huggingface" ? { HF_ENDPOINT: options.upstream.huggingface } : { MODELSCOPE_ENDPOINT: options.upstream.modelscope }) };
  };
  const request = (kind: HubKind, id: string, revision: string, include: string[] = []): ModelRequest => ({
    source: SOURCE[kind], id, revision, include, exclude: [], projects: [],
  });
  const token = (kind: HubKind) => {
    if (!options.allowPrivate) return undefined;
    const names = options.registry.get(SOURCE[kind]).tokenEnv ?? [];
    return names.map((n) => options.env[n]).find((v) => v);
  };

  const resolveUpstream = (kind: HubKind, id: string, revision: string) => {
    const key = `${kind}:${id}@${revision}`;
    const hit = snapshots.get(key);
    if (hit && Date.now() - hit.at < REF_TTL_MS) return hit.value;
    const value = (async () => {
      const t = token(kind);
      const snapshot = await options.registry.get(SOURCE[kind]).resolve(request(kind, id, revision), {
        env: env(kind), dispatcher, ...(t ? { token: t } : {}), ...(options.signal ? { signal: options.signal } : {}),
      });
      return { revision, snapshot };
    })();
    snapshots.set(key, { at: Date.now(), value });
    value.catch(() => snapshots.delete(key));
    return value;
  };

  return {
    enabled: (kind, id) => Boolean(options.upstream[kind]) && (!options.allow?.length || matchesFilters(id, options.allow, [])),

    async snapshot(kind, id, revision) {
      const rev = revision ?? DEFAULT_REVISION[kind];
      let got;
      try {
        got = await resolveUpstream(kind, id, rev);
      } catch (error) {
        const e = upstreamError(error, `${id}@${rev}`);
        options.onEvent({ type: "upstream-error", repo: `${kind}:${id}@${rev}`, message: e.message });
        throw e;
      }
      const files = new Map<string, StoredFile>();
      for (const f of got.snapshot.files) {
        files.set(f.path, {
          path: f.path, size: f.size,
          ...(f.sha256 ? { sha256: f.sha256 } : {}),
          ...((f.gitOid ?? f.gitSha1) ? { gitOid: f.gitOid ?? f.gitSha1 } : {}),
          ...((f.etag ?? f.sha256 ?? f.gitSha1) ? { etag: f.etag ?? f.sha256 ?? f.gitSha1 } : {}),
          ...(f.fileRevision ? { fileRevision: f.fileRevision } : {}),
        });
      }
      return {
        revision: rev,
        commit: { commit: got.snapshot.commit, files, wholeListing: true },
        ...(got.snapshot.createdAt !== undefined ? { createdAt: got.snapshot.createdAt } : {}),
      };
    },

    fetch({ kind, id, revision, commit, path }) {
      const key = `${kind}:${id}:${commit}:${path}`;
      let running = fetches.get(key);
      if (running) return running;
      running = (async () => {
        const model = request(kind, id, revision, [literal(path)]);
        const known = await resolveUpstream(kind, id, revision).catch(() => undefined);
        // Pinned to the commit the client was told (X-Repo-Commit), through a lock entry: no second resolve upstream.
        const lock: Lock | undefined = known && known.snapshot.commit === commit ? { lockfileVersion: 1, models: [entryFromSnapshot(model, known.snapshot)] } : undefined;
        let failure: Error | undefined;
        const t = token(kind);
        const summary = await runDownload({
          models: [model], registry: options.registry, roots: options.roots, env: env(kind), dispatcher,
          ...(t ? { token: t } : {}), ...(lock ? { lock } : {}), ...(options.signal ? { signal: options.signal } : {}),
          onEvent: (event) => {
            if (event.type === "model-error") failure = event.error;
            options.onEvent({ type: "upstream", event });
          },
        });
        if (summary.failed > 0) throw upstreamError(failure ?? new Error(summary.models[0]?.error ?? "download failed"), `${path} of ${id}@${revision}`);
      })();
      fetches.set(key, running);
      running.finally(() => fetches.delete(key)).catch(() => {});
      return running;
    },

    close: () => dispatcher.close(),
  };
}
