import { describe, expect, it } from "vitest";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { makeRepo } from "@download-models/local-hub";
import { hub } from "../helpers/hub.ts";
import { runMain, type CliResult } from "../helpers/cli.ts";
import { tempDir } from "../helpers/tmp.ts";

const SECRET = "hf_sEcReT0123456789abcdefTOKEN";
const BAD = "hf_wrongButStillSecret987654";

async function filesUnder(dir: string): Promise<string[]> {
  const names = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  return names.map((n) => join(dir, n));
}

describe("tokens never leak", () => {
  it("appear in no output, --json event, error message, manifest, range record, lock or ref", async () => {
    const repos = [
      makeRepo({ id: "acme/private", access: "private", files: [{ path: "model.safetensors", size: 20 * 1024 * 1024 }, { path: "config.json", text: "{}\n" }] }),
      makeRepo({ id: "acme/gated", access: "gated", files: [{ path: "config.json", text: "{}\n" }] }),
      makeRepo({ id: "acme/limited", files: [{ path: "config.json", text: "{}\n" }] }),
    ];
    const h = await hub({
      repos,
      tokens: [SECRET],
      gatedAcceptedTokens: [],
      intercept(req, res) {
        if (!req.url?.startsWith("/acme/limited/resolve/")) return false;
        res.writeHead(429, { "retry-after": "0" }).end(`slow down ${req.headers.authorization ?? ""}`); // a server that echoes it
        return true;
      },
    });
    const root = await tempDir();
    const env = { HF_ENDPOINT: h.url, HF_TOKEN: SECRET };
    const runs: CliResult[] = [
      await runMain(["acme/private", "acme/gated", "acme/limited", "--root", root], env),
      await runMain(["acme/private", "acme/gated", "acme/limited", "--root", root, "--json", "--force"], env),
      await runMain(["acme/private", "--root", root, "--token", BAD, "--force"], { HF_ENDPOINT: h.url }),
      await runMain(["acme/private", "--root", root, `--token=${BAD}`, "--json", "--force"], { HF_ENDPOINT: h.url }),
      await runMain(["verify", "--root", root, "--json"], env),
      await runMain(["list", "--root", root, "--bogus-flag", SECRET], env),
    ];
    expect(runs[0]!.code).toBe(1); // gated and limited fail, private succeeds
    expect(runs[2]!.stderr).toMatch(/token was rejected \(invalid credentials\)/);
    expect(h.requests.some((q) => q.authorization === `Bearer ${SECRET}`)).toBe(true);
    expect(h.requests.some((q) => q.authorization === `Bearer ${BAD}`)).toBe(true);
    for (const run of runs) {
      for (const text of [run.stdout, run.stderr]) {
        expect(text).not.toContain(SECRET);
        expect(text).not.toContain(BAD);
      }
    }
    const files = await filesUnder(root);
    expect(files.some((f) => f.endsWith(".json"))).toBe(true);
    for (const file of files) {
      const bytes = await readFile(file).catch(() => undefined);
      if (!bytes) continue; // a directory
      expect(bytes.includes(SECRET), file).toBe(false);
      expect(bytes.includes(BAD), file).toBe(false);
    }
  });
});
