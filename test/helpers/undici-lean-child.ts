// Child process of test/net/undici.test.ts: loads the tool's undici door, makes one request with each of its parts,
// and reports which of undici's files were loaded for it (a fresh process: nothing else has loaded undici yet).
import { createRequire } from "node:module";
import { Agent, getGlobalDispatcher, request } from "../../src/net/undici.ts";

const url = process.argv[2]!;
const agent = new Agent({ connections: 2 });
const viaAgent = await request(url, { dispatcher: agent, headers: { "x-probe": "agent" } });
const viaGlobal = await request(new URL(url), { method: "GET" });
const texts = [await viaAgent.body.text(), await viaGlobal.body.text()];
await agent.close();
const cache = createRequire(import.meta.url).cache;
const loaded = Object.keys(cache).flatMap((f) => /\/node_modules\/undici\/(.+)$/.exec(f)?.[1] ?? []);
const full = createRequire(import.meta.url)("undici") as typeof import("undici");
process.stdout.write(JSON.stringify({
  statuses: [viaAgent.statusCode, viaGlobal.statusCode],
  texts,
  loaded,
  sameAgent: full.Agent === Agent,
  sameGlobal: full.getGlobalDispatcher() === getGlobalDispatcher(),
}));
