import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, existsSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { deterministicStream, type HubFile } from "@download-models/local-hub";

/**
 * A hub file whose bytes live in a real file on disk (generated once, cached with its hashes), so that the
 * server side of a benchmark costs a page-cache read, not a content generator.
 */
export async function diskFile(cacheDir: string, path: string, size: number, seed = path): Promise<HubFile> {
  const data = `${cacheDir}/${seed.replace(/[^\w.-]/g, "_")}.${size}.bin`;
  const meta = `${data}.json`;
  if (!existsSync(meta)) {
    await mkdir(dirname(data), { recursive: true });
    const sha256 = createHash("sha256");
    const sha1 = createHash("sha1").update(`blob ${size}\0`);
    const source = deterministicStream(seed, 0, size);
    source.on("data", (c: Buffer) => {
      sha256.update(c);
      sha1.update(c);
    });
    await pipeline(source, createWriteStream(data));
    writeFileSync(meta, JSON.stringify({ sha256: sha256.digest("hex"), sha1: sha1.digest("hex") }));
  }
  const { sha256, sha1 } = JSON.parse(readFileSync(meta, "utf8")) as { sha256: string; sha1: string };
  const lfs = size >= 1024 * 1024 || /\.(safetensors|bin|pt)$/.test(path);
  return {
    path,
    size,
    lfs,
    sha256,
    gitOid: lfs ? createHash("sha1").update(`lfs ${sha256}`).digest("hex") : sha1,
    read: (start, end) =>
      end > start ? createReadStream(data, { start, end: end - 1, highWaterMark: 1 << 20 }) : Readable.from([]),
  };
}
