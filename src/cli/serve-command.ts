import { access, chmod, readFile, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { resolve } from "node:path";
import { DownloadModelsError, UsageError } from "../errors.ts";
import { formatBytes } from "../util/index.ts";
import { resolveRoots, type Env } from "../store/index.ts";
import { generateToken, startMirror, type ServeEvent } from "../serve/index.ts";
import type { Output } from "./reporter.ts";

export interface ServeOptions {
  root?: string;
  host: string;
  port: number;
  lockfile?: string;
  upstream?: string;
  modelscopeUpstream?: string;
  upstreamAllow?: string[];
  allowPrivate?: boolean;
  tokenFile?: string;
  publicUrl?: string;
  quiet?: boolean;
  json?: boolean;
}

const isLoopback = (host: string) => host === "localhost" || host === "::1" || (isIP(host) === 4 && host.startsWith("127."));

/** `--token-file FILE`: its tokens, one a line; a missing file gets a fresh `hf_…` token (mode 600), never printed. */
async function mirrorTokens(options: ServeOptions, env: Env, io: Output): Promise<string[]> {
  const tokens = env.DOWNLOAD_MODELS_SERVE_TOKEN ? [env.DOWNLOAD_MODELS_SERVE_TOKEN] : [];
  if (!options.tokenFile) return tokens;
  const path = resolve(options.tokenFile);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw new DownloadModelsError(`Cannot read the token file ${path}: ${(error as Error).message}`);
    text = `${generateToken()}\n`;
    await writeFile(path, text, { mode: 0o600, flag: "wx" });
    await chmod(path, 0o600);
    io.out(`serve: wrote a new client token to ${path}; clients send it as HF_TOKEN / MODELSCOPE_API_TOKEN`);
  }
  const fromFile = text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  if (fromFile.length === 0) throw new UsageError(`The token file ${path} holds no token (one per line).`);
  return [...tokens, ...fromFile];
}

function eventLine(e: ServeEvent): string | undefined {
  switch (e.type) {
    case "request":
      return `${e.method} ${e.path} ${e.status} ${e.bytes} ${e.ms}ms id=${e.id}`;
    case "upstream": {
      const ev = e.event;
      if (ev.type === "file-start") return `upstream: fetching ${ev.path} of ${ev.model.id} (${formatBytes(ev.size)})`;
      if (ev.type === "file-done") return `upstream: stored ${ev.path} of ${ev.model.id}${ev.reused ? " (already on disk)" : ""}`;
      if (ev.type === "file-retry") return `upstream: retrying ${ev.path} of ${ev.model.id} (${ev.reason})`;
      if (ev.type === "model-error") return `upstream: ${ev.model.id} failed: ${ev.result.error ?? ev.error.message}`;
      return undefined;
    }
    case "upstream-error":
      return `upstream: ${e.repo}: ${e.message}`;
    case "error":
      return `serve: error: ${e.message}`;
    default:
      return undefined;
  }
}

/** `download-models serve`: a HuggingFace- and ModelScope-compatible mirror of the store, until SIGINT/SIGTERM. */
export async function serveCommand(options: ServeOptions, io: Output, env: Env): Promise<number> {
  if (options.lockfile && (options.upstream || options.modelscopeUpstream)) {
    throw new UsageError("--lockfile serves only what the lock pins, and pull-through would fetch what it does not: use one or the other.");
  }
  // A missing lockfile reads as an empty lock, which would serve nothing without saying why.
  if (options.lockfile && !(await access(resolve(options.lockfile)).then(() => true, () => false))) {
    throw new UsageError(`--lockfile ${options.lockfile}: no such file (run \`download-models lock\` to write it).`);
  }
  const roots = resolveRoots({ ...(options.root ? { root: options.root } : {}), env });
  const tokens = await mirrorTokens(options, env, io);
  if (!isLoopback(options.host) && tokens.length === 0) {
    io.err(`serve: warning: listening on ${options.host} without a token: anyone who can reach this port can read every served model (see --token-file)`);
  }
  const stop = new AbortController();
  const stopped = new Promise<void>((done) => stop.signal.addEventListener("abort", () => done(), { once: true }));
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) process.exit(130);
    io.err(`serve: ${signal}: stopping`);
    stop.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const upstream = { ...(options.upstream ? { huggingface: options.upstream } : {}), ...(options.modelscopeUpstream ? { modelscope: options.modelscopeUpstream } : {}) };
  try {
    const mirror = await startMirror({
      roots, host: options.host, port: options.port, env, signal: stop.signal,
      ...(options.lockfile ? { lockfile: resolve(options.lockfile) } : {}),
      ...(Object.keys(upstream).length ? { upstream } : {}),
      ...(options.upstreamAllow?.length ? { upstreamAllow: options.upstreamAllow } : {}),
      ...(options.allowPrivate ? { allowPrivate: true } : {}),
      ...(tokens.length ? { token: tokens } : {}),
      ...(options.publicUrl ? { publicUrl: options.publicUrl } : {}),
      onEvent: (e) => {
        if (options.json) return io.out(JSON.stringify(e.type === "upstream" ? { type: "upstream", event: e.event.type, path: "path" in e.event ? e.event.path : undefined, model: e.event.type === "start" ? undefined : e.event.model.id } : e));
        if (e.type === "listening") {
          io.out(`serve: ${e.repos} model${e.repos === 1 ? "" : "s"} from ${roots.huggingface} and ${roots.modelscope}, on ${e.url}${tokens.length ? " (token required)" : ""}${options.lockfile ? ` (only what ${options.lockfile} pins)` : ""}`);
          io.out(`serve: clients: HF_ENDPOINT=${options.publicUrl ?? e.url} MODELSCOPE_ENDPOINT=${options.publicUrl ?? e.url}`);
          if (Object.keys(upstream).length) io.out(`serve: pull-through from ${Object.values(upstream).join(", ")}${options.allowPrivate ? " (with this server's token: gated/private repos are served)" : " (anonymous: public repos only)"}`);
          for (const w of e.warnings) io.err(`serve: warning: ${w}`);
          return;
        }
        if (e.type === "request" && options.quiet) return;
        const line = eventLine(e);
        if (line) (e.type === "error" || e.type === "upstream-error" ? io.err : io.out)(line);
      },
    });
    await stopped;
    await mirror.close();
    io.err("serve: stopped");
    return 0;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") throw new UsageError(`Port ${options.port} on ${options.host} is in use: pick another with --port.`);
    if (code === "EACCES") throw new UsageError(`Not allowed to listen on ${options.host}:${options.port}: pick a port above 1023 with --port.`);
    throw error;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
