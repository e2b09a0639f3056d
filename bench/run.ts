import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { makeFile, startLocalHub, type HubFile, type HubRepo, type LocalHubOptions } from "../local-hub/index.ts";
import { packageRoot } from "../src/package-root.ts";
import { diskFile } from "./disk-file.ts";

// `npm run bench [-- --runs 3 --cases big,capped,small,mixed --big-mb 2048]`
// Times download-models (sha256 verification on), aria2c and curl on the same local hub, in one run.
const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    cases: { type: "string", default: "big,capped,capped10,small,mixed" },
    "big-mb": { type: "string", default: "2048" },
    "curl-capped-runs": { type: "string", default: "1" },
  },
});
const RUNS = Number(args.runs);
const MiB = 1024 * 1024;
const work = join(packageRoot, ".tmp", "bench");
const BIN = join(packageRoot, "bin", "download-models.js");

function have(cmd: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function ensureTools(): void {
  const missing = [["aria2c", "aria2"], ["curl", "curl"], ["/usr/bin/time", "time"]].filter(([c]) => !have(c!)).map(([, pkg]) => pkg!);
  if (missing.length === 0) return;
  console.log(`Installing ${missing.join(", ")} from Debian's archive (apt-get)…`);
  try {
    execFileSync("apt-get", ["install", "-y", "-qq", ...missing], { stdio: "ignore" });
  } catch {
    execFileSync("apt-get", ["update", "-qq"], { stdio: "ignore" });
    execFileSync("apt-get", ["install", "-y", "-qq", ...missing], { stdio: "ignore" });
  }
}

function commitOf(id: string, files: HubFile[]): string {
  return createHash("sha1").update([id, ...files.map((f) => `${f.path} ${f.sha256}`)].join("\n")).digest("hex");
}

function repo(id: string, files: HubFile[]): HubRepo {
  const sha = commitOf(id, files);
  return { source: "huggingface", id, refs: { main: sha }, commits: [{ sha, files }], access: "public" };
}

async function fixtures(bigMb: number) {
  await mkdir(join(work, "data"), { recursive: true });
  const t0 = performance.now();
  const big = repo("bench/big", [await diskFile(join(work, "data"), "model.safetensors", bigMb * MiB, "bench-big")]);
  // 400 files of 10-200 kB in nested folders, plain git files (one request each), like a tokenizer/data repo.
  const small: HubFile[] = [];
  for (let i = 0; i < 400; i++) {
    const size = 10_000 + ((i * 7919) % 190_001);
    small.push(makeFile("bench-small", { path: `shard-${i % 7}/part-${Math.floor(i / 7) % 9}/file-${i}.txt`, size, lfs: false }));
  }
  const mixed = repo("bench/mixed", [
    await diskFile(join(work, "data"), "model.safetensors", 300 * 1000 * 1000, "bench-mixed"),
    makeFile("bench-mixed", { path: "tokenizer.json", size: 2 * 1000 * 1000, lfs: false }),
    makeFile("bench-mixed", { path: "config.json", text: JSON.stringify({ architectures: ["BenchModel"], hidden_size: 1024 }) }),
    makeFile("bench-mixed", { path: "generation_config.json", text: JSON.stringify({ max_new_tokens: 256 }) }),
    makeFile("bench-mixed", { path: "tokenizer_config.json", text: JSON.stringify({ model_max_length: 4096 }) }),
    makeFile("bench-mixed", { path: "special_tokens_map.json", text: JSON.stringify({ eos_token: "</s>" }) }),
  ]);
  console.log(`Fixtures ready in ${((performance.now() - t0) / 1000).toFixed(1)} s (cached in ${work}/data)`);
  return { big, small: repo("bench/small", small), mixed };
}

interface Sample {
  seconds: number;
  rssMb: number;
}

function timed(cmd: string, argv: string[], env: NodeJS.ProcessEnv = {}): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const child = spawn("/usr/bin/time", ["-f", "%e %M", cmd, ...argv], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    child.on("exit", (code) => {
      const last = err.trim().split("\n").at(-1) ?? "";
      const [secs, kb] = last.split(" ").map(Number);
      if (code !== 0 || !Number.isFinite(secs)) return reject(new Error(`${cmd} failed (${code}): ${err.slice(-600)}`));
      resolve({ seconds: secs!, rssMb: kb! / 1024 });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const encodePath = (p: string) => p.split("/").map(encodeURIComponent).join("/");

interface Row {
  case: string;
  tool: string;
  seconds: number;
  mbps: number;
  rssMb: number;
  runs: number;
}

async function benchCase(name: string, r: HubRepo, hubOptions: Omit<LocalHubOptions, "repos">, curlRuns: number): Promise<Row[]> {
  // Tree pages of 1000 entries, as the Hub serves unexpanded listings (our local hub defaults to 50 to exercise paging).
  const hub = await startLocalHub({ repos: [r], pageSize: 1000, ...hubOptions });
  const commit = r.refs.main!;
  const files = r.commits[0]!.files;
  const bytes = files.reduce((n, f) => n + f.size, 0);
  const dir = join(work, "target");
  const urls = files.map((f) => ({ url: `${hub.url}/${r.id}/resolve/${commit}/${encodePath(f.path)}`, out: f.path }));
  await writeFile(join(work, "aria2.txt"), urls.map((u) => `${u.url}\n  out=${u.out}\n`).join(""));
  await writeFile(join(work, "curl.cfg"), urls.map((u) => `url = "${u.url}"\noutput = "${dir}/${u.out}"\n`).join(""));
  const tools: Array<[string, () => Promise<Sample>, number]> = [
    ["download-models", () => timed(process.execPath, [BIN, r.id, "--root", dir, "--quiet"], { HF_ENDPOINT: hub.url }), RUNS],
    ["aria2c -x16 -s16 -k1M -j16", () => timed("aria2c", ["-x16", "-s16", "-k1M", "-j16", "-i", join(work, "aria2.txt"), "-d", dir, "--file-allocation=none", "--console-log-level=error", "--summary-interval=0", "--download-result=hide", "--allow-overwrite=true", "--auto-file-renaming=false"]), RUNS],
    ["curl (one stream)", () => timed("curl", ["-sS", "-L", "--fail", "--create-dirs", "-K", join(work, "curl.cfg")]), curlRuns],
  ];
  const rows: Row[] = [];
  for (const [tool, run, runs] of tools.filter(([, , n]) => n > 0)) {
    const samples: Sample[] = [];
    for (let i = 0; i < runs; i++) {
      await rm(dir, { recursive: true, force: true }); // cold target every run
      samples.push(await run());
    }
    const seconds = median(samples.map((s) => s.seconds));
    rows.push({ case: name, tool, seconds, mbps: bytes / 1e6 / seconds, rssMb: Math.max(...samples.map((s) => s.rssMb)), runs });
    console.log(`  ${name.padEnd(34)} ${tool.padEnd(28)} ${seconds.toFixed(2).padStart(7)} s ${(bytes / 1e6 / seconds).toFixed(0).padStart(6)} MB/s ${samples.map((s) => s.seconds.toFixed(2)).join(" ")}`);
  }
  await rm(dir, { recursive: true, force: true });
  await hub.close();
  return rows;
}

ensureTools();
const bigMb = Number(args["big-mb"]);
const fx = await fixtures(bigMb);
const cases = args.cases.split(",");
const rows: Row[] = [];
console.log(`Runs per tool: ${RUNS} (median); cold target each run; server and clients share this ${(await import("node:os")).cpus().length}-core machine.`);
const bigName = `${bigMb >= 1024 ? `${bigMb / 1024} GiB` : `${bigMb} MiB`} file`;
if (cases.includes("big")) rows.push(...(await benchCase(`${bigName}, no cap`, fx.big, {}, RUNS)));
if (cases.includes("capped")) rows.push(...(await benchCase(`${bigName}, 50 MB/s per connection`, fx.big, { bandwidthPerConnection: 50e6 }, Number(args["curl-capped-runs"]))));
// A link-bound variant: at 10 MB/s per connection the cap, not the CPU, sets the pace (curl would take minutes).
if (cases.includes("capped10")) rows.push(...(await benchCase(`${bigName}, 10 MB/s per connection`, fx.big, { bandwidthPerConnection: 10e6 }, 0)));
if (cases.includes("small")) rows.push(...(await benchCase("400 small files, +20 ms per request", fx.small, { latencyMs: 20 }, RUNS)));
if (cases.includes("mixed")) rows.push(...(await benchCase("mixed model (300 MB + 2 MB + configs)", fx.mixed, {}, RUNS)));

console.log("\n| case | tool | median s | MB/s | peak RSS MB | vs aria2c | vs curl | runs |\n|---|---|---:|---:|---:|---:|---:|---:|");
for (const row of rows) {
  const aria = rows.find((x) => x.case === row.case && x.tool.startsWith("aria2c"));
  const curl = rows.find((x) => x.case === row.case && x.tool.startsWith("curl"));
  const ratio = (base?: Row) => (base ? `${(row.seconds / base.seconds).toFixed(2)}×` : "-");
  console.log(`| ${row.case} | ${row.tool} | ${row.seconds.toFixed(2)} | ${row.mbps.toFixed(0)} | ${row.rssMb.toFixed(0)} | ${ratio(aria)} | ${ratio(curl)} | ${row.runs} |`);
}

const get = (c: string, t: string) => rows.find((r) => r.case.startsWith(c) && r.tool.startsWith(t));
const targets: Array<[string, Row | undefined, Row | undefined, number, (a: Row, b: Row) => number]> = [
  [`${bigName} at 50 MB/s per connection ≤ 1.0× aria2c`, get(`${bigName}, 50`, "download-models"), get(`${bigName}, 50`, "aria2c"), 1.0, (a, b) => a.seconds / b.seconds],
  [`${bigName} uncapped ≤ 1.6× curl`, get(`${bigName}, no cap`, "download-models"), get(`${bigName}, no cap`, "curl"), 1.6, (a, b) => a.seconds / b.seconds],
  ["400 small files at +20 ms ≤ 0.8× aria2c", get("400 small", "download-models"), get("400 small", "aria2c"), 0.8, (a, b) => a.seconds / b.seconds],
];
console.log("\nTargets:");
for (const [label, ours, base, limit, measure] of targets) {
  if (!ours || !base) continue;
  const v = measure(ours, base);
  console.log(`  ${v <= limit ? "MET " : "MISSED"}  ${label}: ${v.toFixed(2)}×`);
}
const rss = Math.max(...rows.filter((r) => r.case.startsWith(bigName) && r.tool === "download-models").map((r) => r.rssMb));
if (Number.isFinite(rss)) console.log(`  ${rss <= 100 ? "MET " : "MISSED"}  peak RSS ≤ 100 MB on the ${bigName}: ${rss.toFixed(0)} MB`);
if (!existsSync(BIN)) console.log("(bin missing?)");
