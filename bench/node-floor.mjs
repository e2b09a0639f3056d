#!/usr/bin/env node
// @ts-check
/**
 * The fastest plain Node download loop we can write, as the floor the engine is measured against: one file, over
 * parallel Range requests (`--streams N`) or one GET (`--streams 1`), through undici's dispatcher API (no body
 * streams), socket pieces gathered into `--gather-mb` positional `writev`s in the libuv pool, and sha256 either
 * inline (one stream: bytes arrive in order) or on a worker thread that reads back the written prefix from the
 * page cache (parallel ranges). No retries, no resume, no progress: what is left is the cost of Node itself.
 *
 * Plain JavaScript on purpose: a TypeScript loader would add its own memory and start-up time to the floor.
 *
 *   node bench/node-floor.mjs --url URL --out FILE [--streams 16] [--chunk-mb 8] [--gather-mb 1] \
 *     [--budget-mb 16] [--hash auto|inline|worker|none] [--sha256 HEX]
 *
 * Prints one JSON line ({ seconds, bytes, sha256 }); exits 1 when `--sha256` is given and does not match.
 *
 * With `--list FILE` (aria2c's input format: a URL line, then `  out=PATH`) it is the floor of a repository of many
 * files instead: `--files N` at once, each one GET (redirects followed), hashed inline with sha256, written to a temp
 * file in one `writev` per `--gather-mb`, flushed with `fsync` and renamed into place under `--out DIR`: the per-file
 * work the engine does too, without its resume records, manifests or cache layout.
 */
import { createHash } from "node:crypto";
import { closeSync, fsyncSync, ftruncateSync, openSync, readFileSync, readSync, writev } from "node:fs";
import { mkdir, open, rename } from "node:fs/promises";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { Agent } from "undici";

if (!isMainThread) hashWorker();
else if (process.argv.includes("--list")) await manyFiles();
else await main();

/** Worker: hash `path` in order, up to wherever the main thread says the written prefix ends. */
function hashWorker() {
  const { path } = workerData;
  const fd = openSync(path, "r");
  const hash = createHash("sha256");
  const buf = Buffer.allocUnsafe(4 << 20);
  let hashed = 0;
  const port = /** @type {import("node:worker_threads").MessagePort} */ (parentPort);
  port.on("message", (/** @type {{ upTo: number, finish?: boolean }} */ m) => {
    while (hashed < m.upTo) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, m.upTo - hashed), hashed);
      if (n <= 0) throw new Error(`short read at ${hashed}`);
      hash.update(buf.subarray(0, n));
      hashed += n;
    }
    if (m.finish) {
      closeSync(fd);
      port.postMessage(hash.digest("hex"));
    }
  });
}

async function main() {
  const { values } = parseArgs({
    options: {
      url: { type: "string" },
      out: { type: "string" },
      streams: { type: "string", default: "16" },
      "chunk-mb": { type: "string", default: "8" },
      "gather-mb": { type: "string", default: "1" },
      "budget-mb": { type: "string", default: "16" },
      hash: { type: "string", default: "auto" },
      sha256: { type: "string" },
    },
  });
  if (!values.url || !values.out) throw new Error("usage: node-floor.mjs --url URL --out FILE [--streams N]");
  const streams = Number(values.streams);
  const chunkSize = Number(values["chunk-mb"]) * (1 << 20);
  const gather = Number(values["gather-mb"]) * (1 << 20);
  const hashMode = values.hash === "auto" ? (streams === 1 ? "inline" : "worker") : values.hash;
  if (hashMode === "inline" && streams !== 1) throw new Error("--hash inline needs --streams 1 (bytes in order)");
  const t0 = performance.now();
  const agent = new Agent({ connections: streams, pipelining: 1 });

  // One request to follow the hub's redirect to the CDN and learn the size; every range then goes straight there.
  const { url, size } = await probe(agent, values.url);
  const fd = openSync(values.out, "w");
  ftruncateSync(fd, size);
  const hasher = hashMode === "inline" ? createHash("sha256") : undefined;
  const worker = hashMode === "worker" ? new Worker(new URL(import.meta.url), { workerData: { path: values.out } }) : undefined;

  // Bytes handed to writev and not yet written, across all connections: pause past the budget, resume at half.
  const budget = { inFlight: 0, limit: Number(values["budget-mb"]) * (1 << 20), /** @type {Array<() => void>} */ waiting: [] };
  const release = (/** @type {number} */ n) => {
    budget.inFlight -= n;
    if (budget.inFlight <= budget.limit / 2) for (const resume of budget.waiting.splice(0)) resume();
  };

  const chunks = [];
  const step = streams === 1 ? size : chunkSize;
  for (let start = 0; start < size; start += step) chunks.push({ start, end: Math.min(size, start + step), writtenTo: start, done: /** @type {Map<number, number>} */ (new Map()) });
  let prefixChunk = 0;
  let advanced = 0;
  /** A write of [start, end) in chunk `c` returned: move the chunk's contiguous mark and the file's written prefix. */
  const written = (/** @type {typeof chunks[number]} */ c, /** @type {number} */ start, /** @type {number} */ end) => {
    c.done.set(start, end);
    let next;
    while ((next = c.done.get(c.writtenTo)) !== undefined) {
      c.done.delete(c.writtenTo);
      c.writtenTo = next;
    }
    while (prefixChunk < chunks.length && chunks[prefixChunk].writtenTo === chunks[prefixChunk].end) prefixChunk++;
    const prefix = prefixChunk < chunks.length ? chunks[prefixChunk].writtenTo : size;
    if (worker && prefix - advanced >= 4 << 20) {
      advanced = prefix;
      worker.postMessage({ upTo: prefix });
    }
  };

  let next = 0;
  const fetchChunk = (/** @type {typeof chunks[number]} */ c) =>
    new Promise((resolve, reject) => {
      const u = new URL(url);
      let pos = c.start;
      /** @type {Buffer[]} */
      let pieces = [];
      let gathered = 0;
      let writes = 0;
      let ended = false;
      const flush = () => {
        if (gathered === 0) return;
        const at = pos - gathered;
        const bufs = pieces;
        const n = gathered;
        pieces = [];
        gathered = 0;
        writes++;
        budget.inFlight += n;
        writev(fd, bufs, at, (err) => {
          if (err) return reject(err);
          written(c, at, at + n);
          release(n);
          if (--writes === 0 && ended) resolve(undefined);
        });
      };
      agent.dispatch(
        { origin: u.origin, path: u.pathname + u.search, method: "GET", headers: streams === 1 ? {} : { range: `bytes=${c.start}-${c.end - 1}` } },
        {
          onRequestStart() {},
          onResponseStart(controller, status) {
            if (status !== 200 && status !== 206) controller.abort(new Error(`HTTP ${status}`));
          },
          onResponseData(controller, chunk) {
            hasher?.update(chunk);
            pieces.push(chunk);
            gathered += chunk.length;
            pos += chunk.length;
            if (gathered >= gather) flush();
            if (budget.inFlight >= budget.limit) {
              controller.pause();
              budget.waiting.push(() => controller.resume());
            }
          },
          onResponseEnd() {
            flush();
            ended = true;
            if (pos !== c.end) return reject(new Error(`short body: ${pos - c.start} of ${c.end - c.start}`));
            if (writes === 0) resolve(undefined);
          },
          onResponseError(_controller, err) {
            reject(err);
          },
        },
      );
    });
  const lane = async () => {
    while (next < chunks.length) await fetchChunk(chunks[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(streams, chunks.length) }, lane));

  let sha256 = hasher?.digest("hex");
  if (worker) {
    sha256 = await new Promise((resolve) => {
      worker.once("message", resolve);
      worker.postMessage({ upTo: size, finish: true });
    });
    await worker.terminate();
  }
  fsyncSync(fd); // the engine makes its files durable before renaming them; so does the floor
  closeSync(fd);
  await agent.close();
  const seconds = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ seconds, bytes: size, sha256, streams, hash: hashMode }));
  if (values.sha256 && sha256 !== values.sha256) {
    console.error(`sha256 mismatch: ${sha256} != ${values.sha256}`);
    process.exitCode = 1;
  }
}

/**
 * Follow redirects with a one-byte Range GET, and read the size from Content-Range.
 * @param {Agent} agent
 * @param {string} start
 */
async function probe(agent, start) {
  let url = start;
  for (let hop = 0; hop < 5; hop++) {
    const res = await agent.request({ origin: new URL(url).origin, path: new URL(url).pathname + new URL(url).search, method: "GET", headers: { range: "bytes=0-0" } });
    await res.body.dump();
    const location = res.headers.location;
    if (res.statusCode >= 300 && res.statusCode < 400 && typeof location === "string") {
      url = new URL(location, url).href;
      continue;
    }
    const total = String(res.headers["content-range"] ?? "").match(/\/(\d+)$/)?.[1];
    if (res.statusCode !== 206 || !total) throw new Error(`no Range support at ${url} (HTTP ${res.statusCode})`);
    return { url, size: Number(total) };
  }
  throw new Error("too many redirects");
}

/** The floor of a many-file repository (`--list`): see the header. */
async function manyFiles() {
  const { values } = parseArgs({
    options: { list: { type: "string" }, out: { type: "string" }, files: { type: "string", default: "32" }, "gather-mb": { type: "string", default: "1" } },
  });
  if (!values.list || !values.out) throw new Error("usage: node-floor.mjs --list FILE --out DIR [--files N]");
  const out = values.out;
  const gather = Number(values["gather-mb"]) * (1 << 20);
  const t0 = performance.now();
  const lines = readFileSync(values.list, "utf8").split("\n");
  /** @type {Array<{ url: string, path: string }>} */
  const jobs = [];
  for (let i = 0; i < lines.length; i++) {
    const path = lines[i + 1]?.match(/^\s+out=(.*)$/)?.[1];
    if (lines[i] && !lines[i].startsWith(" ") && path) jobs.push({ url: lines[i], path });
  }
  const agent = new Agent({ connections: Number(values.files), pipelining: 1 });
  const dirs = new Map();
  let bytes = 0;
  /** One GET of `url`, following redirects; resolves with the body's pieces gathered into positional writes. */
  const get = (/** @type {string} */ url, /** @type {import("node:fs/promises").FileHandle} */ fh, /** @type {import("node:crypto").Hash} */ hash, hops = 0) =>
    new Promise((resolve, reject) => {
      const u = new URL(url);
      /** @type {Buffer[]} */
      let pieces = [];
      let gathered = 0;
      let pos = 0;
      /** @type {Promise<unknown>[]} */
      const writes = [];
      const flush = () => {
        if (gathered === 0) return;
        writes.push(fh.writev(pieces, pos - gathered));
        pieces = [];
        gathered = 0;
      };
      /** @type {string | undefined} */
      let location;
      agent.dispatch({ origin: u.origin, path: u.pathname + u.search, method: "GET" }, {
        onRequestStart() {},
        onResponseStart(controller, status, headers) {
          if (status >= 300 && status < 400 && typeof headers.location === "string") location = new URL(headers.location, url).href;
          else if (status !== 200) controller.abort(new Error(`HTTP ${status} for ${url}`));
        },
        onResponseData(_controller, chunk) {
          if (location) return;
          hash.update(chunk);
          pieces.push(chunk);
          gathered += chunk.length;
          pos += chunk.length;
          if (gathered >= gather) flush();
        },
        onResponseEnd() {
          if (location) {
            if (hops >= 5) return reject(new Error(`too many redirects at ${url}`));
            return resolve(get(location, fh, hash, hops + 1));
          }
          flush();
          bytes += pos;
          resolve(Promise.all(writes));
        },
        onResponseError(_controller, err) {
          reject(err);
        },
      });
    });
  let next = 0;
  const lane = async () => {
    while (next < jobs.length) {
      const job = jobs[next++];
      const final = join(out, job.path);
      const dir = dirname(final);
      if (!dirs.has(dir)) dirs.set(dir, mkdir(dir, { recursive: true }));
      await dirs.get(dir);
      const temp = `${final}.incomplete`;
      const fh = await open(temp, "w");
      const hash = createHash("sha256");
      await get(job.url, fh, hash);
      hash.digest("hex");
      await fh.sync(); // the engine makes each file durable before it takes its final name; so does the floor
      await fh.close();
      await rename(temp, final);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Number(values.files), jobs.length) }, lane));
  await agent.close();
  console.log(JSON.stringify({ seconds: (performance.now() - t0) / 1000, bytes, files: jobs.length }));
}
