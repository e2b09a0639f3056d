import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { makeRepo, startLocalHub } from "@download-models/local-hub";
import { packageRoot } from "../src/util/package-root.ts";

// Peak memory of the CLI for a repository with a huge listing (default 300,000 tiny files), measured by
// /usr/bin/time -v: a dry run resolves and plans every file; a download also fetches, links and records them all.
//   npx tsx bench/huge-listing.ts [--files 300000] [--download]      (or `npm run bench -- --cases huge`)

export interface HugeRun {
  code: number;
  maxRssMb: number;
  seconds: number;
}

export interface HugeListingResult {
  files: number;
  dryRun: HugeRun;
  download?: HugeRun;
}

async function peak(bin: string, hubUrl: string, extra: string[]): Promise<HugeRun> {
  const root = await mkdtemp(join(tmpdir(), "dm-huge-"));
  try {
    const child = spawn("/usr/bin/time", ["-v", process.execPath, bin, "acme/huge", "--root", root, "--quiet", ...extra], {
      env: { ...process.env, HF_ENDPOINT: hubUrl }, stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    const code = await new Promise<number>((done) => child.on("exit", (c) => done(c ?? -1)));
    const kb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(err)?.[1] ?? NaN);
    const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)/.exec(err)?.[1] ?? "0";
    const seconds = wall.split(":").reduce((s, p) => s * 60 + Number(p), 0);
    if (code !== 0) process.stderr.write(err.split("\n").filter((l) => !l.startsWith("\t")).join("\n") + "\n");
    return { code, maxRssMb: kb / 1024, seconds };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** A dry run, then (with `download`) a real download, of one generated repository of `files` files. */
export async function benchHugeListing(files: number, options: { download: boolean }): Promise<HugeListingResult> {
  const repo = makeRepo({ id: "acme/huge", files: Array.from({ length: files }, (_, i) => ({ path: `shards/${Math.floor(i / 1000)}/${i}.json`, text: `{"i":${i}}\n` })) });
  // Tree pages of 1000 entries, as the Hub serves unexpanded listings.
  const hub = await startLocalHub({ repos: [repo], pageSize: 1000 });
  const bin = join(packageRoot, "bin", "download-models.js");
  try {
    const dryRun = await peak(bin, hub.url, ["--dry-run"]);
    return { files, dryRun, ...(options.download ? { download: await peak(bin, hub.url, []) } : {}) };
  } finally {
    await hub.close();
  }
}

export function formatHugeRun(files: number, what: string, run: HugeRun): string {
  return `${files} files, ${what}: peak RSS ${run.maxRssMb.toFixed(0)} MiB, ${run.seconds.toFixed(1)} s, exit ${run.code}`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values: args } = parseArgs({ options: { files: { type: "string", default: "300000" }, download: { type: "boolean", default: false } } });
  const result = await benchHugeListing(Number(args.files), { download: args.download });
  console.log(formatHugeRun(result.files, "dry run", result.dryRun));
  if (result.download) console.log(formatHugeRun(result.files, "download", result.download));
}
