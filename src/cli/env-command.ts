import type { Env } from "../store/index.ts";
import { consumerEnv, resolveRoots, rootFor } from "../store/index.ts";
import { LockfileError } from "../lockfile/index.ts";
import { openLock, pinLine, pinOf, type LockfileOptions, type Pin } from "./lockfile-use.ts";
import type { Output } from "./reporter.ts";

export interface EnvOptions extends LockfileOptions {
  root?: string;
  json?: boolean;
  /** Also the commit each locked model is pinned at. */
  lock?: boolean;
}

async function lockedPins(options: EnvOptions, env: Env): Promise<Pin[] | undefined> {
  if (!options.lock) return undefined;
  const opened = await openLock(options, env);
  if (!opened.exists) throw new LockfileError(`${opened.path} does not exist: run \`download-models lock\` first (or pass --lockfile FILE)`);
  return opened.lock.models.map(pinOf);
}

export async function envCommand(options: EnvOptions, io: Output, env: Env): Promise<number> {
  const roots = resolveRoots({ ...(options.root ? { root: options.root } : {}), env });
  rootFor(roots, "huggingface");
  rootFor(roots, "modelscope");
  const { lines, vars } = consumerEnv(roots);
  const pins = await lockedPins(options, env);
  if (options.json) {
    io.out(JSON.stringify({ vars, huggingfaceCache: roots.huggingface, modelscopeCache: roots.modelscope, why: roots.why, ...(pins ? { pins } : {}) }, null, 2));
    return 0;
  }
  io.out(`# HuggingFace cache: ${roots.huggingface} (${roots.why.huggingface})`);
  io.out(`# ModelScope cache: ${roots.modelscope} (${roots.why.modelscope})`);
  for (const line of lines) io.out(line);
  for (const pin of pins ?? []) io.out(pinLine(pin));
  return 0;
}
