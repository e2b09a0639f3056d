import { execFileSync } from "node:child_process";
import { cpus } from "node:os";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { cdnLikeShaping, startLocalHub, type ConnectionRecord, type HubRepo, type LocalHub, type LocalHubOptions } from "@download-models/local-hub";
import { packageRoot } from "../src/util/package-root.ts";
import { huggingfaceFileUrl } from "../src/net/index.ts";
import { fixtures } from "./fixtures.ts";
import { median, timed, type Sample } from "./measure.ts";

// `npm run bench [-- --runs 3 --cases big,capped,capped10,small,latency,mixed,uneven,cdn,serve,huge --big-mb 2048 --curl-capped-runs 1 --serve-mb 1024 --huge-files 300000 --base DIR]`
// Times download-models (sha256 verification on), aria2c (with and without sha256sum after it), curl and a
// minimal Node client (bench/node-floor.mjs: one file over 16 ranges or one stream; or, in the many-file cases, every
// file of the repository 32 at once) on the local hub. Defaults: 3 runs, every case, a 2 GiB big file;
// about 12-15 minutes on a 2-core machine (`--cases` and `--big-mb` cut it down). Within a case every tool runs
// once per round, in a rotating order, so a machine that gets busier mid-run slows all tools alike; the table
// gives medians, CPU seconds (user + sys of the client) and peak RSS (the largest client process).
//
// Cases: big (no cap), capped (50 MB/s per connection), capped10 (10 MB/s per connection), small (400 files of
// 10-200 kB, no cap), latency (the same with 20 ms added per request), mixed (300 MB + tokenizer + configs),
// uneven (the mixed model at 5 MB/s per connection with a quarter of the connections at 0.5 MB/s, and the
// reference run with every connection at 5 MB/s, interleaved in the same rounds), cdn (the mixed model with 70 % of
// connections at 2 MB/s and 30 % at 16 MB/s, the ratio of slow and fast CloudFront edges, scaled down so that the
// link, not this machine's CPU, sets the pace).
// `--base DIR`: another built checkout of download-models (e.g. a worktree of main) runs beside this one in the same
// rounds, for before/after figures that share the machine's load.
// serve (`download-models serve` against nginx and the simplest Node file server, 1 and 32 curl clients on one big
// stored file; bench/mirror.ts).
// huge, only when named (`--cases huge [--huge-files 300000]`, a few minutes): peak RSS of a dry run and of a
// download of one repository with a huge listing of tiny files (bench/huge-listing.ts); the target is < 400 MB each.
const ALL_CASES = "big,capped,capped10,small,latency,mixed,uneven,cdn,serve";
const NAMED_ONLY = ["huge"];
const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    cases: { type: "string", default: ALL_CASES },
    "big-mb": { type: "string", default: "2048" },
    // curl and the one-stream floor need ~43 s at 50 MB/s on 2 GiB; their median matters less there.
    "curl-capped-runs": { type: "string", default: "1" },
    // The serve case: size of the file served to 1 and to 32 clients.
    "serve-mb": { type: "string", default: "1024" },
    // The huge case: files in the listing.
    "huge-files": { type: "string", default: "300000" },
    base: { type: "string" },
  },
});
const RUNS = Number(args.runs);
const CURL_CAPPED_RUNS = Number(args["curl-capped-runs"]);
const work = join(packageRoot, ".tmp", "bench");
const BIN = join(packageRoot, "bin", "download-models.js");
const FLOOR = join(packageRoot, "bench", "node-floor.mjs");
const BASE_BIN = args.base ? join(args.base, "bin", "download-models.js") : undefined;

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


type ToolName = "download-models" | "download-models (base)" | "aria2c" | "aria2c + sha256sum" | "curl" | "node-floor x16" | "node-floor 1 stream" | "node-floor files";
const TOOL_LABEL: Record<ToolName, string> = {
  "download-models": "download-models (sha256)",
  "download-models (base)": "download-models --base (sha256)",
  aria2c: "aria2c -x16 -s16 -k1M -j16",
  "aria2c + sha256sum": "aria2c, then sha256sum",
  curl: "curl (one stream)",
  "node-floor x16": "node-floor x16 (sha256)",
  "node-floor 1 stream": "node-floor 1 stream (sha256)",
  "node-floor files": "node-floor, 32 files at once (sha256)",
};

/** One hub configuration of a case; the uneven case has two (uneven and its all-fast reference). */
interface Variant {
  name: string;
  hub: Omit<LocalHubOptions, "repos">;
  /** Tools and how many runs each gets (0 = not run). */
  tools: Partial<Record<ToolName, number>>;
}

interface Row {
  case: string;
  tool: ToolName;
  seconds: number;
  mbps: number;
  cpuSeconds: number;
  rssMb: number;
  samples: Sample[];
  /** The slowest run: what a user who is unlucky once sees. */
  worst: number;
}

function command(tool: ToolName, r: HubRepo, hub: LocalHub, dir: string): [string, string[], NodeJS.ProcessEnv?, string?] {
  const aria = ["-x16", "-s16", "-k1M", "-j16", "-i", join(work, `aria2-${hub.url.split(":").at(-1)}.txt`), "-d", dir, "--file-allocation=none", "--console-log-level=error", "--summary-interval=0", "--download-result=hide", "--allow-overwrite=true", "--auto-file-renaming=false"];
  const file = r.commits[0]!.files[0]!;
  const firstUrl = huggingfaceFileUrl(hub.url, r.id, r.refs.main!, file.path);
  const floor = (streams: number): [string, string[]] => [process.execPath, [FLOOR, "--url", firstUrl, "--out", join(dir, "floor.bin"), `--sha256=${file.sha256}`, "--streams", String(streams)]];
  switch (tool) {
    case "download-models":
      return [process.execPath, [BIN, r.id, "--root", dir, "--quiet"], { HF_ENDPOINT: hub.url }];
    case "download-models (base)":
      // Run from its own checkout: a checkout's downloaders/ folder is read from the working directory.
      return [process.execPath, [BASE_BIN!, r.id, "--root", dir, "--quiet"], { HF_ENDPOINT: hub.url }, args.base];
    case "aria2c":
      return ["aria2c", aria];
    case "aria2c + sha256sum":
      // The verifying peer: the same download, then every file hashed (what a careful script would do).
      return ["sh", ["-c", `aria2c "$@" && cd '${dir}' && find . -type f -print0 | xargs -0 sha256sum > /dev/null`, "sh", ...aria]];
    case "curl":
      return ["curl", ["-sS", "-L", "--fail", "--create-dirs", "-K", join(work, `curl-${hub.url.split(":").at(-1)}.cfg`)]];
    case "node-floor x16":
      return floor(16);
    case "node-floor 1 stream":
      return floor(1);
    case "node-floor files":
      // aria2c's list: the same URLs, no listing request (the floor does not resolve a repository).
      return [process.execPath, [FLOOR, "--list", join(work, `aria2-${hub.url.split(":").at(-1)}.txt`), "--out", dir, "--files", "32"]];
  }
}

/** How a run used a shaped hub's connections: how many it opened, and the share of bytes the slow ones carried. */
function connectionsUsed(log: readonly ConnectionRecord[]): string {
  if (log.length === 0) return "";
  const slow = log.filter((c) => c.slow);
  const bytes = log.reduce((n, c) => n + c.bytes, 0);
  const slowBytes = slow.reduce((n, c) => n + c.bytes, 0);
  return `  ${log.length} connections (${slow.length} slow), ${((100 * slowBytes) / Math.max(1, bytes)).toFixed(0)} % of bytes on slow ones`;
}

/** Runs every (variant, tool) once per round, rotating the order each round; returns one row per pair. */
async function benchCase(r: HubRepo, variants: Variant[]): Promise<Row[]> {
  const files = r.commits[0]!.files;
  const bytes = files.reduce((n, f) => n + f.size, 0);
  const dir = join(work, "target");
  const hubs: LocalHub[] = [];
  try {
    // Tree pages of 1000 entries, as the Hub serves unexpanded listings (our local hub defaults to 50 to exercise paging).
    for (const v of variants) hubs.push(await startLocalHub({ repos: [r], pageSize: 1000, ...v.hub }));
    for (const hub of hubs) {
      const port = hub.url.split(":").at(-1);
      const urls = files.map((f) => ({ url: huggingfaceFileUrl(hub.url, r.id, r.refs.main!, f.path), out: f.path }));
      await writeFile(join(work, `aria2-${port}.txt`), urls.map((u) => `${u.url}\n  out=${u.out}\n`).join(""));
      await writeFile(join(work, `curl-${port}.cfg`), urls.map((u) => `url = "${u.url}"\noutput = "${dir}/${u.out}"\n`).join(""));
    }
    const jobs = variants.flatMap((v, i) =>
      (Object.entries(BASE_BIN ? { ...v.tools, "download-models (base)": v.tools["download-models"] ?? 0 } : v.tools) as Array<[ToolName, number]>).filter(([, n]) => n > 0).map(([tool, runs]) => ({ variant: v, hub: hubs[i]!, tool, runs, samples: [] as Sample[] })),
    );
    const rounds = Math.max(...jobs.map((j) => j.runs));
    for (let round = 0; round < rounds; round++) {
      const order = [...jobs.slice(round % jobs.length), ...jobs.slice(0, round % jobs.length)];
      for (const job of order.filter((j) => j.samples.length < j.runs)) {
        await rm(dir, { recursive: true, force: true }); // cold target every run
        execFileSync("sync"); // the previous run's dirty pages are written back outside the timed window
        const [cmd, argv, env, cwd] = command(job.tool, r, job.hub, dir);
        if (job.tool.startsWith("node-floor")) await mkdir(dir, { recursive: true }); // the floor's target exists
        const logged = job.hub.connectionLog.length;
        const s = await timed(cmd, argv, env, cwd);
        job.samples.push(s);
        const used = connectionsUsed(job.hub.connectionLog.slice(logged));
        console.log(`  [${round + 1}/${rounds}] ${job.variant.name.padEnd(44)} ${TOOL_LABEL[job.tool].padEnd(30)} ${s.seconds.toFixed(2).padStart(7)} s ${s.cpuSeconds.toFixed(2).padStart(6)} CPU s ${s.rssMb.toFixed(0).padStart(5)} MB${used}`);
      }
    }
    return jobs.map((j) => {
      const seconds = median(j.samples.map((s) => s.seconds));
      return {
        case: j.variant.name,
        tool: j.tool,
        seconds,
        mbps: bytes / 1e6 / seconds,
        cpuSeconds: median(j.samples.map((s) => s.cpuSeconds)),
        rssMb: Math.max(...j.samples.map((s) => s.rssMb)),
        samples: j.samples,
        worst: Math.max(...j.samples.map((s) => s.seconds)),
      };
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
    await Promise.all(hubs.map((h) => h.close()));
  }
}

ensureTools();
const cases = new Set(args.cases.split(","));
for (const c of cases) if (![...ALL_CASES.split(","), ...NAMED_ONLY].includes(c)) throw new Error(`Unknown case "${c}". Cases: ${ALL_CASES},${NAMED_ONLY.join(",")}`);
// Memory of one client process, not a race between tools: it runs apart and prints its own lines.
if (cases.delete("huge")) {
  const { benchHugeListing, formatHugeRun } = await import("./huge-listing.ts");
  const files = Number(args["huge-files"]);
  console.log(`Huge listing: one repository of ${files} tiny files on the local hub (tree pages of 1000), peak RSS by /usr/bin/time -v`);
  const r = await benchHugeListing(files, { download: true });
  for (const [what, run] of [["dry run", r.dryRun], ["download", r.download!]] as const) {
    console.log(`  ${run.code === 0 && run.maxRssMb < 400 ? "MET   " : "MISSED"}  ${formatHugeRun(files, what, run)} (target < 400 MiB)`);
  }
  if (cases.size === 0) process.exit(0);
}
// `download-models serve` against nginx: servers, not clients, so it runs apart and prints its own table.
if (cases.delete("serve")) {
  if (!have("nginx")) throw new Error("The serve case needs nginx as its reference: apt-get install -y nginx-light");
  const { benchMirror } = await import("./mirror.ts");
  await benchMirror({ sizeMb: Number(args["serve-mb"]), runs: RUNS, concurrent: 32 });
  if (cases.size === 0) process.exit(0);
}
const bigMb = Number(args["big-mb"]);
const t0 = performance.now();
const fx = await fixtures(join(work, "data"), bigMb);
console.log(`Fixtures ready in ${((performance.now() - t0) / 1000).toFixed(1)} s (cached in ${work}/data)`);
console.log(`Runs per tool: ${RUNS} (median); cold target each run; server and clients share this ${cpus().length}-core machine.`);
const CDN_CASE = "mixed model, CDN-like: 70 % of connections 2 MB/s, 30 % 16 MB/s";
const bigName = `${bigMb >= 1024 ? `${bigMb / 1024} GiB` : `${bigMb} MiB`} file`;
const N = RUNS;
const rows: Row[] = [];
const all = (curl: number, floor1: number): Variant["tools"] => ({
  "download-models": N,
  aria2c: N,
  "aria2c + sha256sum": N,
  curl,
  "node-floor x16": N,
  "node-floor 1 stream": floor1,
});
if (cases.has("big")) rows.push(...(await benchCase(fx.big, [{ name: `${bigName}, no cap`, hub: {}, tools: all(N, N) }])));
if (cases.has("capped")) {
  rows.push(...(await benchCase(fx.big, [{ name: `${bigName}, 50 MB/s per connection`, hub: { bandwidthPerConnection: 50e6 }, tools: all(CURL_CAPPED_RUNS, CURL_CAPPED_RUNS) }])));
}
// A link-bound variant: at 10 MB/s per connection the cap, not the CPU, sets the pace (one stream would take minutes).
if (cases.has("capped10")) {
  rows.push(...(await benchCase(fx.big, [{ name: `${bigName}, 10 MB/s per connection`, hub: { bandwidthPerConnection: 10e6 }, tools: { "download-models": N, aria2c: N, "node-floor x16": N } }])));
}
// The many-file floor: bare Node (undici, an inline sha256, temp file, fsync, rename), 32 files at once like our default.
const many = { "download-models": N, aria2c: N, "aria2c + sha256sum": N, curl: N, "node-floor files": N };
if (cases.has("small")) rows.push(...(await benchCase(fx.small, [{ name: "400 small files, no cap", hub: {}, tools: many }])));
if (cases.has("latency")) rows.push(...(await benchCase(fx.small, [{ name: "400 small files, +20 ms per request", hub: { latencyMs: 20 }, tools: { "download-models": N, aria2c: N, curl: N, "node-floor files": N } }])));
// The many-file floor's one GET per file would fetch the 300 MB file as one stream; the floor here is the ranged one
// (16 connections) of that file alone: 99 % of the model's bytes, without its listing, small files or start of a CLI.
const { "node-floor files": _, ...peers } = many;
if (cases.has("mixed")) rows.push(...(await benchCase(fx.mixed, [{ name: "mixed model (300 MB + 2 MB + configs)", hub: {}, tools: { ...peers, "node-floor x16": N } }])));
if (cases.has("uneven")) {
  // curl at 5 MB/s would take a minute per run and says nothing about tails; aria2c shows what its splitting does.
  const tools = { "download-models": N, aria2c: N };
  rows.push(
    ...(await benchCase(fx.mixed, [
      { name: "mixed model, 5 MB/s per connection (reference)", hub: { bandwidthPerConnection: 5e6 }, tools },
      { name: "mixed model, 5 MB/s, 1/4 of connections 0.5 MB/s", hub: { bandwidthPerConnection: 5e6, slowConnectionShare: 0.25, slowBandwidthPerConnection: 0.5e6 }, tools },
    ])),
  );
}
if (cases.has("cdn")) {
  rows.push(...(await benchCase(fx.mixed, [{ name: CDN_CASE, hub: cdnLikeShaping(2e6), tools: { "download-models": N, aria2c: N, "aria2c + sha256sum": N } }])));
}

const find = (c: string, t: ToolName) => rows.find((x) => x.case === c && x.tool === t);
const reference = (row: Row) => (row.case.includes("1/4 of connections") ? rows.find((x) => x.tool === row.tool && x.case.includes("(reference)")) : undefined);
const ratio = (row: Row, base?: Row) => (base && base !== row ? `${(row.seconds / base.seconds).toFixed(2)}×` : "-");
console.log(`\nMedians of ${RUNS} interleaved runs (curl and the one-stream floor at 50 MB/s: ${CURL_CAPPED_RUNS}); CPU s = user + sys of the client; peak RSS = largest client process.`);
console.log("\n| case | tool | median s | worst s | MB/s | CPU s | peak RSS MB | vs curl | vs aria2c | vs reference (worst) | runs (s) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
for (const row of rows) {
  const ref = reference(row);
  const worstVsRef = ref ? ` (${(row.worst / ref.seconds).toFixed(2)}×)` : "";
  const cells = [row.case, TOOL_LABEL[row.tool], row.seconds.toFixed(2), row.worst.toFixed(2), row.mbps.toFixed(0), row.cpuSeconds.toFixed(2), row.rssMb.toFixed(0), ratio(row, find(row.case, "curl")), ratio(row, find(row.case, "aria2c")), ratio(row, ref) + worstVsRef, row.samples.map((s) => s.seconds.toFixed(2)).join(" ")];
  console.log(`| ${cells.join(" | ")} |`);
}

// The targets, each a ratio within this run.
const big = `${bigName}, no cap`;
const capped = `${bigName}, 50 MB/s per connection`;
const targets: Array<[string, string, ToolName, ToolName, number]> = [
  [`${bigName} uncapped ≤ 1.5× curl`, big, "download-models", "curl", 1.5],
  [`${bigName} at 50 MB/s per connection ≤ 1.0× aria2c`, capped, "download-models", "aria2c", 1.0],
  ["400 small files uncapped ≤ 1.0× aria2c", "400 small files, no cap", "download-models", "aria2c", 1.0],
  ["400 small files uncapped ≤ 2.5× curl", "400 small files, no cap", "download-models", "curl", 2.5],
  ["400 small files at +20 ms ≤ 0.8× aria2c", "400 small files, +20 ms per request", "download-models", "aria2c", 0.8],
  ["mixed model uncapped ≤ 1.0× aria2c", "mixed model (300 MB + 2 MB + configs)", "download-models", "aria2c", 1.0],
  ["CDN-like connections ≤ 0.7× aria2c", CDN_CASE, "download-models", "aria2c", 0.7],
];
console.log("\nTargets:");
for (const [label, c, ours, base, limit] of targets) {
  const a = find(c, ours);
  const b = find(c, base);
  if (!a || !b) continue;
  const v = a.seconds / b.seconds;
  console.log(`  ${v <= limit ? "MET   " : "MISSED"}  ${label}: ${v.toFixed(2)}×`);
}
const unevenRow = rows.find((x) => x.tool === "download-models" && x.case.includes("1/4 of connections"));
const unevenRef = unevenRow && reference(unevenRow);
if (unevenRow && unevenRef) {
  // The worst run counts: a tail that is slow one run in three is what users call "stuck at 99 %".
  const v = unevenRow.worst / unevenRef.seconds;
  console.log(`  ${v <= 1.6 ? "MET   " : "MISSED"}  uneven connections, worst run ≤ 1.6× the all-fast reference's median: ${v.toFixed(2)}× (median ${(unevenRow.seconds / unevenRef.seconds).toFixed(2)}×)`);
}
// CPU: ours against a peer that verifies too (aria2c, then sha256sum on every file).
for (const row of rows.filter((x) => x.tool === "download-models")) {
  const peer = find(row.case, "aria2c + sha256sum");
  if (!peer) continue;
  const v = row.cpuSeconds / peer.cpuSeconds;
  console.log(`  ${v <= 1.3 ? "MET   " : "MISSED"}  client CPU ≤ 1.3× aria2c + sha256sum, ${row.case}: ${row.cpuSeconds.toFixed(2)} vs ${peer.cpuSeconds.toFixed(2)} CPU s (${v.toFixed(2)}×)`);
}
if (BASE_BIN) {
  console.log(`\nThis checkout against --base ${args.base} (same rounds):`);
  for (const row of rows.filter((x) => x.tool === "download-models")) {
    const b = find(row.case, "download-models (base)");
    if (b) console.log(`  ${row.case}: ${(row.seconds / b.seconds).toFixed(2)}× time, CPU ${row.cpuSeconds.toFixed(2)} vs ${b.cpuSeconds.toFixed(2)} s (${(row.cpuSeconds / b.cpuSeconds).toFixed(2)}×), peak RSS ${row.rssMb.toFixed(0)} vs ${b.rssMb.toFixed(0)} MB`);
  }
}
const bigRss = find(big, "download-models")?.rssMb;
if (bigRss !== undefined) console.log(`  ${bigRss <= 100 ? "MET   " : "MISSED"}  peak RSS ≤ 100 MB on the ${bigName}: ${bigRss.toFixed(0)} MB`);
console.log("\nDistance from Node's own floor (download-models ÷ node-floor, same case):");
for (const c of [big, capped, `${bigName}, 10 MB/s per connection`]) {
  const ours = find(c, "download-models");
  for (const floor of ["node-floor x16", "node-floor 1 stream"] as const) {
    const f = find(c, floor);
    if (ours && f) console.log(`  ${c}: ${(ours.seconds / f.seconds).toFixed(2)}× ${floor} time, ${(ours.cpuSeconds / f.cpuSeconds).toFixed(2)}× its CPU, ${ours.rssMb.toFixed(0)} vs ${f.rssMb.toFixed(0)} MB peak RSS`);
  }
}
// Where the floor itself is above a target, what bare Node costs (start, per file, per byte) is that target's ceiling.
for (const [c, floorTool] of [["400 small files, no cap", "node-floor files"], ["400 small files, +20 ms per request", "node-floor files"], ["mixed model (300 MB + 2 MB + configs)", "node-floor x16"]] as const) {
  const ours = find(c, "download-models");
  const f = find(c, floorTool);
  const aria = find(c, "aria2c");
  if (ours && f) {
    console.log(`  ${c}: ${(ours.seconds / f.seconds).toFixed(2)}× ${floorTool} time, ${(ours.cpuSeconds / f.cpuSeconds).toFixed(2)}× its CPU` +
      (aria ? `; the floor itself is ${(f.seconds / aria.seconds).toFixed(2)}× aria2c's time, ${(f.cpuSeconds / aria.cpuSeconds).toFixed(2)}× its CPU` : ""));
  }
}
