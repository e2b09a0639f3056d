import { onTestFinished } from "vitest";
import { Agent } from "undici";
import { startLocalHub, type LocalHub, type LocalHubOptions } from "../../local-hub/index.ts";
import { builtinDownloaders, createRegistry } from "../../src/sources/registry.ts";
import { resolveRoots } from "../../src/store/roots.ts";
import { runDownload, type RunDownloadOptions, type Summary } from "../../src/download/run-download.ts";
import type { DownloadEvent } from "../../src/download/events.ts";
import type { ModelRequest } from "../../src/types.ts";

/** A local hub for one test, closed when it ends. */
export async function hub(options: LocalHubOptions): Promise<LocalHub> {
  const h = await startLocalHub(options);
  onTestFinished(() => h.close());
  return h;
}

export function hfModel(id: string, extra: Partial<ModelRequest> = {}): ModelRequest {
  return { source: "huggingface", id, revision: "main", include: [], exclude: [], projects: [], ...extra };
}

export function msModel(id: string, extra: Partial<ModelRequest> = {}): ModelRequest {
  return { source: "modelscope", id, revision: "master", include: [], exclude: [], projects: [], ...extra };
}

/** runDownload against the local hub with fast retries; collects events. */
export async function download(
  h: LocalHub,
  root: string,
  models: ModelRequest[],
  extra: Partial<RunDownloadOptions> & { env?: Record<string, string> } = {},
): Promise<Summary & { events: DownloadEvent[] }> {
  const events: DownloadEvent[] = [];
  const env = { HOME: root, HF_ENDPOINT: h.url, MODELSCOPE_ENDPOINT: h.url, ...extra.env };
  const dispatcher = new Agent({ connections: 8 });
  try {
    const summary = await runDownload({
      models,
      registry: createRegistry(builtinDownloaders),
      roots: resolveRoots({ root, env }),
      transfer: { attempts: 3, baseDelayMs: 5, ...extra.transfer },
      dispatcher,
      ...extra,
      env,
      onEvent: (e) => events.push(e),
    });
    return { ...summary, events };
  } finally {
    await dispatcher.close();
  }
}
