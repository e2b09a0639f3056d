import type { Env } from "../roots.ts";
import { consumerEnv, resolveRoots, rootFor } from "../roots.ts";
import type { Output } from "./reporter.ts";

export async function envCommand(options: { root?: string; json?: boolean }, io: Output, env: Env): Promise<number> {
  const roots = resolveRoots({ ...(options.root ? { root: options.root } : {}), env });
  rootFor(roots, "huggingface");
  rootFor(roots, "modelscope");
  const { lines, vars } = consumerEnv(roots);
  if (options.json) {
    io.out(JSON.stringify({ vars, huggingfaceCache: roots.huggingface, modelscopeCache: roots.modelscope, why: roots.why }, null, 2));
    return 0;
  }
  io.out(`# HuggingFace cache: ${roots.huggingface} (${roots.why.huggingface})`);
  io.out(`# ModelScope cache: ${roots.modelscope} (${roots.why.modelscope})`);
  for (const line of lines) io.out(line);
  return 0;
}
