import { join } from "node:path";
import { parseArgs } from "node:util";
import { startLocalHub } from "../local-hub/index.ts";
import { packageRoot } from "../src/util/package-root.ts";
import { fixtures } from "./fixtures.ts";

// A bench hub that stays up, for profiling one client by hand (`node --cpu-prof`, `strace -c -f`):
//   npx tsx bench/serve.ts [--big-mb 2048] [--bandwidth 5e6] [--slow-share 0.25 --slow-bandwidth 5e5] [--latency-ms 20]
// prints the hub URL and the model ids, then serves until Ctrl-C.
const { values: args } = parseArgs({
  options: {
    "big-mb": { type: "string", default: "2048" },
    bandwidth: { type: "string" },
    "slow-share": { type: "string" },
    "slow-bandwidth": { type: "string" },
    "latency-ms": { type: "string" },
  },
});
const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
const fx = await fixtures(join(packageRoot, ".tmp", "bench", "data"), Number(args["big-mb"]));
const hub = await startLocalHub({
  repos: [fx.big, fx.small, fx.mixed],
  pageSize: 1000,
  ...(args.bandwidth ? { bandwidthPerConnection: num(args.bandwidth) } : {}),
  ...(args["slow-share"] ? { slowConnectionShare: num(args["slow-share"]), slowBandwidthPerConnection: num(args["slow-bandwidth"]) } : {}),
  ...(args["latency-ms"] ? { latencyMs: num(args["latency-ms"]) } : {}),
});
console.log(`HF_ENDPOINT=${hub.url}`);
for (const r of [fx.big, fx.small, fx.mixed]) {
  const f = r.commits[0]!.files[0]!;
  console.log(`${r.id}  first file: ${hub.url}/${r.id}/resolve/${r.refs.main}/${f.path}  sha256 ${f.sha256}`);
}
process.on("SIGINT", () => void hub.close().then(() => process.exit(0)));
process.on("SIGTERM", () => void hub.close().then(() => process.exit(0)));
