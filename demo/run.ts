import { spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { DEFAULT_TOKEN, startLocalHub } from "../local-hub/index.ts";
import { formatBytes } from "../src/util/format.ts";
import { packageRoot } from "../src/util/package-root.ts";
import { demoRepos } from "./catalog.ts";

// `npm run demo [-- DIR]`: the main job, end to end, without internet. An embedded hub on 127.0.0.1 serves
// stand-ins of the shipped projects' models; the real CLI downloads them into DIR (default ./demo-volume).
const root = resolve(process.argv[2] ?? "demo-volume");
// Each connection is capped like a CDN edge, so the run lasts a few seconds: interrupt it (Ctrl-C) and run it
// again to see it resume.
const hub = await startLocalHub({ repos: demoRepos(), bandwidthPerConnection: 6_000_000 });
const args = [
  join(packageRoot, "bin", "download-models.js"),
  "--all",
  "--projects-dir", join(packageRoot, "projects"),
  "--projects-dir", join(packageRoot, "demo", "projects"),
  "--root", root,
];
console.log(`Local hub (HuggingFace and ModelScope protocols) on ${hub.url}, 6 MB/s per connection; downloading into ${root}`);
console.log(`$ HF_ENDPOINT=${hub.url} MODELSCOPE_ENDPOINT=${hub.url} HF_TOKEN=*** MODELSCOPE_API_TOKEN=*** download-models ${args.slice(1).join(" ")}\n`);

const code = await new Promise<number>((done) => {
  const child = spawn(process.execPath, args, {
    stdio: "inherit",
    // The demo's gated and private stand-ins need tokens: the local hub's own.
    env: { ...process.env, HF_ENDPOINT: hub.url, MODELSCOPE_ENDPOINT: hub.url, HF_TOKEN: DEFAULT_TOKEN, MODELSCOPE_API_TOKEN: DEFAULT_TOKEN },
  });
  child.on("exit", (c, signal) => done(c ?? (signal ? 1 : 0)));
});
const served = hub.requests.length;
console.log(
  `\nLocal hub: ${served} request${served === 1 ? "" : "s"}, ${formatBytes(hub.bytesServed)} of files served` +
    (served === 0 ? " (everything was already complete on disk: nothing was asked of the network)." : "."),
);
console.log(
  code === 0
    ? "Run `npm run demo` again: every model is skipped with zero requests."
    : "Run `npm run demo` again: finished files are kept and big files resume from the bytes already written.",
);
await hub.close();
process.exitCode = code;
