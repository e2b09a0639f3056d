import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import tarStream from "tar-stream";
import { ImageError } from "./errors.ts";

/** One entry of a layer, named as in the image (`models/huggingface/hub/…`), without a leading `/`. */
export type LayerEntry =
  | { type: "directory"; name: string }
  | { type: "file"; name: string; size: number; path: string }
  | { type: "data"; name: string; data: Buffer; mode?: number }
  | { type: "symlink"; name: string; target: string };

/** The ustar size field holds at most 8 GiB - 1; bigger files (GGUF) carry their size in a PAX record. */
const USTAR_MAX_SIZE = 0o77777777777;

/** The one mtime of every entry: SOURCE_DATE_EPOCH when set, else 1 s after the epoch (never the clock, never the files'). */
export function layerEpoch(env: Readonly<Record<string, string | undefined>>): number {
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === "") return 1;
  if (!/^\d+$/.test(raw)) throw new ImageError(`SOURCE_DATE_EPOCH="${raw}" is not a whole number of seconds`);
  return Number(raw);
}

/** A name a layer may hold: relative, `/`-separated, no `.`/`..`/empty part, no whiteout marker. */
export function checkEntryName(name: string): void {
  const parts = name.replace(/\/$/, "").split("/");
  const bad = parts.find((p) => p === "" || p === "." || p === ".." || p.startsWith(".wh.") || p.includes("\0"));
  if (name.startsWith("/") || bad !== undefined) {
    throw new ImageError(`"${name}" cannot go into an image layer (${bad?.startsWith(".wh.") ? "a whiteout name would delete files of lower layers" : "not a plain relative path"})`);
  }
}

/**
 * The entries with every ancestor directory made explicit, without duplicates, sorted by the UTF-8 bytes of the
 * name: the order, and so the bytes, depend only on the names (parents sort before their children).
 */
export function normaliseEntries(entries: LayerEntry[]): LayerEntry[] {
  const byName = new Map<string, LayerEntry>();
  for (const e of entries) {
    checkEntryName(e.name);
    const name = e.type === "directory" ? e.name.replace(/\/?$/, "/") : e.name;
    const parts = name.replace(/\/$/, "").split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/") + "/";
      const had = byName.get(dir);
      if (had && had.type !== "directory") throw new ImageError(`"${dir}" is both a file and a directory in one layer`);
      byName.set(dir, { type: "directory", name: dir });
    }
    const had = byName.get(name);
    if (had && !(had.type === e.type && (had.type !== "symlink" || had.target === (e as { target: string }).target))) {
      throw new ImageError(`"${name}" is listed twice in one layer with different contents`);
    }
    byName.set(name, { ...e, name });
  }
  return [...byName.values()].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
}

/**
 * The layer as a reproducible tar stream: ustar headers with uid/gid 0, no user or group names, one mtime,
 * modes 0755 (directories), 0644 (files), 0777 (links); PAX records only for long names/targets (tar-stream's
 * fixed `PaxHeader` name) and sizes of 8 GiB and more; two zero blocks at the end, no padding beyond. Files are
 * read as they are written: nothing is buffered or copied. A file whose size changed since it was listed fails.
 */
export function layerTar(entries: LayerEntry[], epochSeconds: number): AsyncIterable<Buffer> {
  const pack = tarStream.pack();
  const mtime = new Date(epochSeconds * 1000);
  const common = { uid: 0, gid: 0, uname: "", gname: "", mtime };
  (async () => {
    for (const e of entries) {
      if (e.type === "directory") {
        await addEntry(pack, { ...common, name: e.name, type: "directory", mode: 0o755 });
      } else if (e.type === "symlink") {
        await addEntry(pack, { ...common, name: e.name, type: "symlink", linkname: e.target, mode: 0o777 });
      } else if (e.type === "data") {
        await addEntry(pack, { ...common, name: e.name, type: "file", mode: e.mode ?? 0o644, size: e.data.length }, e.data);
      } else {
        const big = e.size > USTAR_MAX_SIZE ? { pax: { size: String(e.size) } } : {};
        const sink = pack.entry({ ...common, name: e.name, type: "file", mode: 0o644, size: e.size, ...big });
        try {
          await pipeline(createReadStream(e.path), sink);
        } catch (error) {
          throw new ImageError(`${e.path}: ${(error as Error).message} (changed while the layer was written? run the command again)`, { cause: error });
        }
      }
    }
    pack.finalize();
  })().catch((error: unknown) => pack.destroy(error as Error));
  return pack as unknown as AsyncIterable<Buffer>;
}

function addEntry(pack: tarStream.Pack, header: Parameters<tarStream.Pack["entry"]>[0], data?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry(header, data ?? "", (error) => (error ? reject(error) : resolve()));
  });
}

export interface Digested {
  digest: string;
  size: number;
}

/** Pass bytes through while counting and hashing them; `result()` once the stream has ended. */
export function digester(): { tap: (source: AsyncIterable<Buffer>) => AsyncGenerator<Buffer>; result: () => Digested } {
  const hash = createHash("sha256");
  let size = 0;
  let done: Digested | undefined;
  return {
    async *tap(source) {
      for await (const chunk of source) {
        hash.update(chunk);
        size += chunk.length;
        yield chunk;
      }
      done = { digest: `sha256:${hash.digest("hex")}`, size };
    },
    result() {
      if (!done) throw new Error("digest read before the stream ended");
      return done;
    },
  };
}

/** Digest and size of a stream, reading it once. */
export async function digestOf(source: AsyncIterable<Buffer>): Promise<Digested> {
  const d = digester();
  for await (const _ of d.tap(source)) void _;
  return d.result();
}
