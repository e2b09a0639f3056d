import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { makeRepo, startLocalHub } from "@download-models/local-hub";
import { packageRoot } from "../src/util/package-root.ts";

// Peak memory of the CLI for a repository with a huge listing (default 300,000 files), measured by /usr/bin/time -v:
//   npx tsx bench/huge-listing.ts [--files 300000] [--download]
// A dry run resolves and plans every file; --download also fetches them all (slow: one request per file).
const { values: args } = parseArgs({ options: { files: { type: "string", default: "300000" }, download: { type: "boolean", default: false } } });
const n = Number(args.files);
const repo = makeRepo({ id: "acme/huge", files: Array.from({ length: n }, (_, i) => ({ path: `shards/${Math.floor(i / 1000)}/${i}.json`, text: `{"i":${i}}\n` })) });
const hub = await startLocalHub({ repos: [repo], pageSize: 1000 });
const bin = join(packageRoot, "bin", "download-models.js");

async function peak(extra: string[]): Promise<{ code: number; maxRssMb: number; seconds: number }> {
  const root = await mkdtemp(join(tmpdir(), "dm-huge-"));
  try {
    const child = spawn("/usr/bin/time", ["-v", process.execPath, bin, "acme/huge", "--root", root, "--quiet", ...extra], {
      env: { ...process.env, HF_ENDPOINT: hub.url }, stdio: ["ignore", "ignore", "pipe"],
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

try {
  const dry = await peak(["--dry-run"]);
  console.log(`${n} files, dry run: peak RSS ${dry.maxRssMb.toFixed(0)} MiB, ${dry.seconds.toFixed(1)} s, exit ${dry.code}`);
  if (args.download) {
    const full = await peak([]);
    console.log(`${n} files, download: peak RSS ${full.maxRssMb.toFixed(0)} MiB, ${full.seconds.toFixed(1)} s, exit ${full.code}`);
  }
} finally {
  await hub.close();
}
