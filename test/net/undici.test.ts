import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const CHILD = join(import.meta.dirname, "..", "helpers", "undici-lean-child.ts");

describe("undici, loaded lean", () => {
  it("requests through an Agent and the global dispatcher without loading undici's fetch, WebSocket or cookies", { timeout: 30_000 }, async () => {
    const server = createServer((req, res) => res.end(`${req.method} ${req.url} ${req.headers["x-probe"] ?? "-"}`));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/a/b?c=1`;
      const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", CHILD, url], { timeout: 20_000 });
      const out = JSON.parse(stdout) as { statuses: number[]; texts: string[]; loaded: string[]; sameAgent: boolean; sameGlobal: boolean };
      expect(out.statuses).toEqual([200, 200]);
      expect(out.texts).toEqual(["GET /a/b?c=1 agent", "GET /a/b?c=1 -"]);
      // the parts are undici's own: a dispatcher made here is one the whole package accepts
      expect(out.sameAgent).toBe(true);
      expect(out.sameGlobal).toBe(true);
      // what was loaded before the child asked for the whole package at its end: only what the requests needed
      expect(out.loaded).toContain("lib/dispatcher/agent.js");
      expect(out.loaded.filter((f) => f.startsWith("lib/web/") || f === "index.js")).toEqual([]);
    } finally {
      server.close();
    }
  });

  it("is the only door to undici in src/ (type imports aside)", () => {
    const src = join(import.meta.dirname, "..", "..", "src");
    const files = readdirSync(src, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"));
    const importers = files.filter((f) => /^import (?!type )[^;]*from "undici(\/[^"]*)?";/m.test(readFileSync(join(src, f), "utf8")));
    expect(importers).toEqual([]);
    expect(files.filter((f) => /load\("undici/.test(readFileSync(join(src, f), "utf8")))).toEqual(["net/undici.ts"]);
  });
});
