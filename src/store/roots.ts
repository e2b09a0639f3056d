import { statSync } from "node:fs";
import { expandHome, userCacheDir } from "../util/index.ts";
import { join, resolve } from "node:path";
import { RootError } from "../errors.ts";
import type { Env, LayoutName } from "../types.ts";

export type { Env } from "../types.ts";

/** Where each kind of cache lives, and why. */
export interface Roots {
  /** HuggingFace hub cache (the directory holding `models--org--name`). */
  huggingface: string;
  /** ModelScope cache (`MODELSCOPE_CACHE`). */
  modelscope: string;
  /** Base of the plain layout used by custom downloaders: `<plain>/<source>/<id>`. */
  plain: string;
  /** Human explanation of how the roots were chosen, per kind. */
  why: { huggingface: string; modelscope: string; plain: string };
  /** Kinds that cannot be used here, with the reason (a Pod without a network volume); see rootFor(). */
  refused: Partial<Record<LayoutName, RootError>>;
  /** The RunPod network volume the roots are on, if any. */
  volume?: { path: string; kind: "pod" | "serverless" };
}

export interface RootOptions {
  /** `--root DIR`: everything under DIR (HF in DIR/huggingface/hub, ModelScope in DIR/modelscope). */
  root?: string;
  env: Env;
  /** Injection point for tests: is this path an existing directory? */
  isDir?: (path: string) => boolean;
}

const POD_VOLUME = "/workspace";
const SERVERLESS_VOLUME = "/runpod-volume";

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * A mounted RunPod network volume: `/workspace` in a Pod that has `RUNPOD_VOLUME_ID`,
 * `/runpod-volume` in a serverless worker. A Pod without a volume is an error: its `/workspace` dies with it.
 * Detection keys off RunPod's env vars, never off the directory alone (pytorch images have WORKDIR /workspace).
 */
function detectVolume(env: Env, isDir: (p: string) => boolean): Roots["volume"] | "pod-without-volume" | undefined {
  if (env.RUNPOD_POD_ID) {
    if (env.RUNPOD_VOLUME_ID && isDir(POD_VOLUME)) return { path: POD_VOLUME, kind: "pod" };
    return "pod-without-volume";
  }
  if (env.RUNPOD_ENDPOINT_ID && isDir(SERVERLESS_VOLUME)) return { path: SERVERLESS_VOLUME, kind: "serverless" };
  return undefined;
}

/** Resolve the cache roots: `--root`, then the libraries' own env vars, then a RunPod volume, then the user cache. */
export function resolveRoots(options: RootOptions): Roots {
  const { env } = options;
  const isDir = options.isDir ?? isDirectory;
  if (options.root) {
    const root = resolve(expandHome(options.root, env));
    const why = `--root ${root}`;
    return {
      huggingface: join(root, "huggingface", "hub"),
      modelscope: join(root, "modelscope"),
      plain: root,
      why: { huggingface: why, modelscope: why, plain: why },
      refused: {},
    };
  }

  const volume = detectVolume(env, isDir);
  const fallback = (kind: string, onVolume: string, userDefault: string): { dir: string; why: string } | RootError => {
    if (volume === "pod-without-volume") {
      const why = env.RUNPOD_VOLUME_ID
        ? `RUNPOD_VOLUME_ID is set, but nothing is mounted at ${POD_VOLUME}`
        : "RUNPOD_VOLUME_ID is not set";
      return new RootError(
        `This RunPod Pod has no network volume (${why}), so ${POD_VOLUME} is the Pod's own disk ` +
          `and is deleted with the Pod: ${kind || "the"} models downloaded there would be lost.\n` +
          `Attach a network volume when you deploy the Pod (it mounts at ${POD_VOLUME}), ` +
          `or pass --root DIR to write somewhere on purpose.`,
      );
    }
    if (volume) return { dir: join(volume.path, "models", onVolume), why: `RunPod network volume at ${volume.path}` };
    return { dir: userDefault, why: "user cache (no RunPod volume, no cache env var)" };
  };
  const cacheHome = userCacheDir(env);

  const hfEnv = env.HF_HUB_CACHE
    ? { dir: expandHome(env.HF_HUB_CACHE, env), why: "HF_HUB_CACHE" }
    : env.HUGGINGFACE_HUB_CACHE
      ? { dir: expandHome(env.HUGGINGFACE_HUB_CACHE, env), why: "HUGGINGFACE_HUB_CACHE" }
      : env.HF_HOME
        ? { dir: join(expandHome(env.HF_HOME, env), "hub"), why: "HF_HOME" }
        : undefined;
  const msEnv = env.MODELSCOPE_CACHE ? { dir: expandHome(env.MODELSCOPE_CACHE, env), why: "MODELSCOPE_CACHE" } : undefined;
  const plainEnv = env.DOWNLOAD_MODELS_CACHE
    ? { dir: expandHome(env.DOWNLOAD_MODELS_CACHE, env), why: "DOWNLOAD_MODELS_CACHE" }
    : undefined;

  // In a Pod without a volume only the kinds actually used (and not set by an env var) are refused: the refusal is
  // recorded per kind and raised by rootFor() when that kind is opened.
  const refused: Roots["refused"] = {};
  const pick = (kind: LayoutName, fromEnv: { dir: string; why: string } | undefined, onVolume: string, userDefault: string) => {
    const chosen = fromEnv ?? fallback(kind === "plain" ? "" : kind, onVolume, userDefault);
    if (chosen instanceof RootError) {
      refused[kind] = chosen;
      return { dir: join(POD_VOLUME, "models", onVolume), why: "refused: this Pod has no network volume" };
    }
    return chosen;
  };
  const hf = pick("huggingface", hfEnv, "huggingface/hub", join(cacheHome, "huggingface", "hub"));
  const ms = pick("modelscope", msEnv, "modelscope", join(cacheHome, "modelscope", "hub"));
  const plain = pick("plain", plainEnv, "", join(cacheHome, "download-models"));
  return {
    huggingface: resolve(hf.dir),
    modelscope: resolve(ms.dir),
    plain: resolve(plain.dir),
    why: { huggingface: hf.why, modelscope: ms.why, plain: plain.why },
    refused,
    ...(volume && volume !== "pod-without-volume" ? { volume } : {}),
  };
}

/** The root of one layout; throws the RootError recorded when that kind cannot be used here (a Pod without a volume). */
export function rootFor(roots: Roots, layout: LayoutName): string {
  const refusal = roots.refused[layout];
  if (refusal) throw refusal;
  return roots[layout];
}

/** The same path as seen from the other RunPod mount point (Pod `/workspace` ↔ serverless `/runpod-volume`). */
function otherMount(path: string): { label: string; path: string } | undefined {
  if (path === POD_VOLUME || path.startsWith(POD_VOLUME + "/")) {
    return { label: "serverless workers", path: SERVERLESS_VOLUME + path.slice(POD_VOLUME.length) };
  }
  if (path === SERVERLESS_VOLUME || path.startsWith(SERVERLESS_VOLUME + "/")) {
    return { label: "Pods", path: POD_VOLUME + path.slice(SERVERLESS_VOLUME.length) };
  }
  return undefined;
}

/**
 * The env lines a consuming pod needs to load these caches offline: `HF_HUB_CACHE` with
 * `HF_HUB_OFFLINE=1`, and `MODELSCOPE_CACHE`. When the roots are on a RunPod volume, the same lines for the other
 * mount point follow as comments.
 */
export function consumerEnv(
  roots: Roots,
  kinds: { huggingface?: boolean; modelscope?: boolean } = { huggingface: true, modelscope: true },
): { lines: string[]; vars: Record<string, string> } {
  const vars: Record<string, string> = {};
  const lines: string[] = [];
  const elsewhere: string[] = [];
  let label = "";
  const add = (name: string, value: string) => {
    vars[name] = value;
    lines.push(`export ${name}=${value}`);
    const other = otherMount(value);
    if (other) {
      label = other.label;
      elsewhere.push(`${name}=${other.path}`);
    }
  };
  if (kinds.huggingface) {
    // HF_HUB_CACHE, not HF_HOME: with HF_HOME on the volume every consumer would also write its token, Xet cache and
    // update checks there.
    add("HF_HUB_CACHE", roots.huggingface);
    add("HF_HUB_OFFLINE", "1");
  }
  if (kinds.modelscope) add("MODELSCOPE_CACHE", roots.modelscope);
  if (elsewhere.length) lines.push(`# in ${label} the same volume is mounted elsewhere: export ${elsewhere.join(" ")}`);
  if (kinds.modelscope) lines.push("# ModelScope pipelines load offline only from a directory: pass what `download-models path <id>` prints to pipeline(model=...)");
  return { lines, vars };
}
