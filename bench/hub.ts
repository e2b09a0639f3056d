import { join } from "node:path";
import { startLocalHub } from "@download-models/local-hub";
import { packageRoot } from "../src/util/package-root.ts";
import { fixtures } from "./fixtures.ts";

// `npm run bench -- hub small|mixed|big [--big-mb 2048] [--latency-ms 20]`: one bench fixture on a local hub, served until Ctrl-C, for
// profiling a single client run by hand (`node --cpu-prof`, `/usr/bin/time -v`, `perf`) against the same data as
// the bench: `HF_ENDPOINT=<printed URL> node bin/download-models.js bench/mixed --root DIR`.
const name = process.argv[3] ?? "mixed";
const bigAt = process.argv.indexOf("--big-mb");
const fx = await fixtures(join(packageRoot, ".tmp", "bench", "data"), bigAt > 0 ? Number(process.argv[bigAt + 1]) : 2048);
const repo = { small: fx.small, mixed: fx.mixed, big: fx.big }[name];
if (!repo) throw new Error(`Unknown fixture "${name}": small, mixed or big`);
const latencyAt = process.argv.indexOf("--latency-ms");
const hub = await startLocalHub({ repos: [repo], pageSize: 1000, ...(latencyAt > 0 ? { latencyMs: Number(process.argv[latencyAt + 1]) } : {}) });
console.log(`HF_ENDPOINT=${hub.url} (${repo.id}); Ctrl-C stops it`);
const stop = () => void hub.close().then(() => process.exit(0));
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
