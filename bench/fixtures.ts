import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { makeFile, type HubFile, type HubRepo } from "@download-models/local-hub";
import { diskFile } from "./disk-file.ts";

const MiB = 1024 * 1024;

function commitOf(id: string, files: HubFile[]): string {
  return createHash("sha1").update([id, ...files.map((f) => `${f.path} ${f.sha256}`)].join("\n")).digest("hex");
}

function repo(id: string, files: HubFile[]): HubRepo {
  const sha = commitOf(id, files);
  return { source: "huggingface", id, refs: { main: sha }, commits: [{ sha, files }], access: "public" };
}

export interface Fixtures {
  /** One `bigMb` MiB safetensors file. */
  big: HubRepo;
  /** 400 plain files of 10-200 kB in nested folders, one request each, like a tokenizer/data repo. */
  small: HubRepo;
  /** A 300 MB safetensors file, a 2 MB tokenizer and four configs. */
  mixed: HubRepo;
}

/** The benchmark repos; big files live under `dataDir` (generated once), so serving them costs a page-cache read. */
export async function fixtures(dataDir: string, bigMb: number): Promise<Fixtures> {
  await mkdir(dataDir, { recursive: true });
  const big = repo("bench/big", [await diskFile(dataDir, "model.safetensors", bigMb * MiB, "bench-big")]);
  const small: HubFile[] = [];
  for (let i = 0; i < 400; i++) {
    const size = 10_000 + ((i * 7919) % 190_001);
    small.push(makeFile("bench-small", { path: `shard-${i % 7}/part-${Math.floor(i / 7) % 9}/file-${i}.txt`, size, lfs: false }));
  }
  const mixed = repo("bench/mixed", [
    await diskFile(dataDir, "model.safetensors", 300 * 1000 * 1000, "bench-mixed"),
    makeFile("bench-mixed", { path: "tokenizer.json", size: 2 * 1000 * 1000, lfs: false }),
    makeFile("bench-mixed", { path: "config.json", text: JSON.stringify({ architectures: ["BenchModel"], hidden_size: 1024 }) }),
    makeFile("bench-mixed", { path: "generation_config.json", text: JSON.stringify({ max_new_tokens: 256 }) }),
    makeFile("bench-mixed", { path: "tokenizer_config.json", text: JSON.stringify({ model_max_length: 4096 }) }),
    makeFile("bench-mixed", { path: "special_tokens_map.json", text: JSON.stringify({ eos_token: "</s>" }) }),
  ]);
  return { big, small: repo("bench/small", small), mixed };
}

export const benchDataDir = (work: string) => join(work, "data");
