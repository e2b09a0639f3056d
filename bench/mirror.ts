import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { startLocalHub } from "../local-hub/index.ts";
import { builtinDownloaders, createRegistry } from "../src/sources/index.ts";
import { resolveRoots } from "../src/store/index.ts";
import { runDownload } from "../src/download/index.ts";
import { packageRoot } from "../src/util/package-root.ts";
import { diskFile } from "./disk-file.ts";
import { median } from "./measure.ts";

// The `serve` case: how fast `download-models serve` hands a big stored file to 1 and to 32 clients at once,
// against nginx (sendfile) serving the same file and the simplest Node file server (fs stream piped to the response),
// all on 127.0.0.1. Clients are curl processes writing to /dev/null (one TCP connection each; curl's own cost is the
// same for every server). Aggregate rate = bytes of all clients / wall time of the slowest; the server's peak RSS
// comes from /proc/<pid>/status (VmHWM) of the server process.

const MiB = 1024 * 1024;
const BIN = join(packageRoot, "bin", "download-models.js");

interface ServerUnderTest {
  name: string;
  url: string;
  /** PIDs whose peak RSS is the server's (nginx: master and workers). */
  pids: () => number[];
  stop: () => Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function waitForLine(child: ChildProcess, re: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = "";
    const onData = (d: Buffer) => {
      out += d;
      const m = re.exec(out);
      if (m) {
        child.stdout?.off("data", onData);
        resolve(m);
      }
    };
    child.stdout?.on("data", onData);
    child.on("exit", (code) => reject(new Error(`server exited (${code}) before it listened: ${out.slice(-400)}`)));
  });
}

const stopChild = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });

function peakRssMb(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      kb += Number(m?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return kb / 1024;
}

/** `clients` curl processes fetching `url` whole at once; the aggregate rate in MB/s (10^6 bytes). */
async function load(url: string, clients: number, size: number): Promise<number> {
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, () => new Promise<void>((resolve, reject) => {
      const c = spawn("curl", ["-sS", "--fail", "-o", "/dev/null", "-w", "%{size_download}", url], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      c.stdout.on("data", (d) => (out += d));
      c.on("close", (code) => (code === 0 && Number(out) === size ? resolve() : reject(new Error(`curl ${url}: exit ${code}, ${out} bytes`))));
    })),
  );
  return (clients * size) / ((performance.now() - t0) / 1000) / 1e6;
}

async function startNginx(file: string, dir: string): Promise<ServerUnderTest> {
  const port = await freePort();
  const conf = join(dir, "nginx.conf");
  await mkdir(join(dir, "nginx-tmp"), { recursive: true });
  await writeFile(conf, [
    "daemon off; worker_processes 2; pid " + join(dir, "nginx.pid") + "; error_log " + join(dir, "nginx-error.log") + " warn;",
    "events { worker_connections 1024; }",
    "http {",
    "  access_log off; sendfile on; tcp_nopush on; keepalive_timeout 5;",
    `  client_body_temp_path ${dir}/nginx-tmp; proxy_temp_path ${dir}/nginx-tmp; fastcgi_temp_path ${dir}/nginx-tmp; uwsgi_temp_path ${dir}/nginx-tmp; scgi_temp_path ${dir}/nginx-tmp;`,
    `  server { listen 127.0.0.1:${port}; location = /file { alias ${file}; default_type application/octet-stream; } }`,
    "}",
  ].join("\n"));
  const child = spawn("nginx", ["-c", conf, "-p", dir], { stdio: ["ignore", "ignore", "pipe"] });
  for (let i = 0; i < 50; i++) {
    try {
      execFileSync("curl", ["-sf", "-o", "/dev/null", "-r", "0-0", `http://127.0.0.1:${port}/file`]);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const workers = () => {
    try {
      return execFileSync("pgrep", ["-P", String(child.pid)]).toString().trim().split("\n").map(Number).filter(Boolean);
    } catch {
      return [];
    }
  };
  return { name: "nginx (sendfile)", url: `http://127.0.0.1:${port}/file`, pids: () => [child.pid!, ...workers()], stop: () => stopChild(child) };
}

async function startNodeFloor(file: string): Promise<ServerUnderTest> {
  const script = [
    "const http = require('node:http'), fs = require('node:fs');",
    `const file = ${JSON.stringify(file)}; const size = fs.statSync(file).size;`,
    "http.createServer((req, res) => { res.writeHead(200, { 'content-length': size }); fs.createReadStream(file).pipe(res); })",
    "  .listen(0, '127.0.0.1', function () { console.log('on http://127.0.0.1:' + this.address().port); });",
  ].join("\n");
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  const m = await waitForLine(child, /on (http:\/\/\S+)/);
  return { name: "simplest Node server", url: `${m[1]}/file`, pids: () => [child.pid!], stop: () => stopChild(child) };
}

async function startServe(root: string, path: string): Promise<ServerUnderTest> {
  const child = spawn(process.execPath, [BIN, "serve", "--root", root, "--port", "0", "--quiet"], { stdio: ["ignore", "pipe", "inherit"] });
  const m = await waitForLine(child, /on (http:\/\/127\.0\.0\.1:\d+)/);
  return { name: "download-models serve", url: `${m[1]}/${path}`, pids: () => [child.pid!], stop: () => stopChild(child) };
}

export interface MirrorBenchOptions {
  sizeMb: number;
  runs: number;
  concurrent: number;
}

/** Fill a store with one big file (once), then time the three servers in rotating order; prints the table. */
export async function benchMirror(o: MirrorBenchOptions): Promise<void> {
  const work = join(packageRoot, ".tmp", "bench", "serve");
  const root = join(work, `store-${o.sizeMb}`);
  const big = await diskFile(join(packageRoot, ".tmp", "bench", "data"), "model.safetensors", o.sizeMb * MiB, "bench-serve");
  const repo = { source: "huggingface" as const, id: "bench/serve", refs: { main: "5e".repeat(20) }, commits: [{ sha: "5e".repeat(20), files: [big] }], access: "public" as const };
  const blob = join(root, "huggingface", "hub", "models--bench--serve", "blobs", big.sha256);
  if (!existsSync(blob)) {
    await rm(root, { recursive: true, force: true });
    const hub = await startLocalHub({ repos: [repo] });
    const env = { HOME: root, HF_ENDPOINT: hub.url };
    try {
      const s = await runDownload({ models: [{ source: "huggingface", id: "bench/serve", revision: "main", include: [], exclude: [], projects: [] }], registry: createRegistry(builtinDownloaders), roots: resolveRoots({ root, env }), env });
      if (s.failed) throw new Error(`filling the bench store failed: ${s.models[0]?.error}`);
    } finally {
      await hub.close();
    }
  }
  // Warm the page cache: every server then reads memory, not the disk.
  execFileSync("cat", [blob], { stdio: ["ignore", "ignore", "ignore"], maxBuffer: 1 });
  const starts = [
    () => startNginx(blob, work),
    () => startServe(root, `bench/serve/resolve/main/model.safetensors`),
    () => startNodeFloor(blob),
  ];
  const rates = new Map<string, { one: number[]; many: number[]; rssOne: number[]; rss: number[] }>();
  console.log(`\nserve: ${o.sizeMb} MiB file from the page cache over 127.0.0.1; ${o.runs} rounds; clients are curl processes (1, then ${o.concurrent} at once)`);
  for (let run = 0; run < o.runs; run++) {
    for (let i = 0; i < starts.length; i++) {
      const server = await starts[(i + run) % starts.length]!();
      try {
        const one = await load(server.url, 1, big.size);
        const rssOne = peakRssMb(server.pids());
        const many = await load(server.url, o.concurrent, big.size);
        const r = rates.get(server.name) ?? { one: [], many: [], rssOne: [], rss: [] };
        r.one.push(one);
        r.many.push(many);
        r.rssOne.push(rssOne);
        r.rss.push(peakRssMb(server.pids()));
        rates.set(server.name, r);
        console.log(`  round ${run + 1}: ${server.name.padEnd(24)} 1 client ${one.toFixed(0).padStart(6)} MB/s   ${o.concurrent} clients ${many.toFixed(0).padStart(6)} MB/s`);
      } finally {
        await server.stop();
      }
    }
  }
  const nginx = rates.get("nginx (sendfile)")!;
  console.log(`\n  ${"server".padEnd(24)} ${"1 client".padStart(10)} ${`${o.concurrent} clients`.padStart(12)} ${"vs nginx (1 / N)".padStart(18)} ${"peak RSS 1 / N".padStart(16)}`);
  for (const [name, r] of rates) {
    const ratio = `${(median(r.one) / median(nginx.one)).toFixed(2)} / ${(median(r.many) / median(nginx.many)).toFixed(2)}`;
    console.log(`  ${name.padEnd(24)} ${`${median(r.one).toFixed(0)} MB/s`.padStart(10)} ${`${median(r.many).toFixed(0)} MB/s`.padStart(12)} ${ratio.padStart(18)} ${`${Math.max(...r.rssOne).toFixed(0)} / ${Math.max(...r.rss).toFixed(0)} MB`.padStart(16)}`);
  }
}
