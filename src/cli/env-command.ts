import type { Env } from "../roots.ts";
import { consumerEnv, resolveRoots } from "../roots.ts";
import type { Output } from "./reporter.ts";

export async function envCommand(o: { root?: string; json?: boolean }, io: Output, env: Env): Promise<number> {
  const roots = resolveRoots({ ...(o.root ? { root: o.root } : {}), env });
  const { lines, vars } = consumerEnv(roots);
  if (o.json) {
    io.out(JSON.stringify({ vars, huggingfaceCache: roots.huggingface, why: roots.why.huggingface }, null, 2));
    return 0;
  }
  io.out(`# HuggingFace cache: ${roots.huggingface} (${roots.why.huggingface})`);
  for (const line of lines) io.out(line);
  return 0;
}
