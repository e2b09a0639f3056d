import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { fetch } from "undici";
import { describe, expect, it } from "vitest";
import { download, hfModel, hub, msModel } from "../helpers/hub.ts";
import { runCli, startCli } from "../helpers/cli.ts";
import { hfRepo, msRepo } from "../helpers/mirror.ts";
import { tempDir } from "../helpers/tmp.ts";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Start `download-models serve` in a child process and wait for the URL it prints. */
async function serveChild(args: string[], env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = startCli(["serve", "--port", "0", ...args], env);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${out}`)), 20_000);
    const check = () => {
      const m = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on("data", check);
    child.on("exit", (code) => reject(new Error(`serve exited ${code}: ${out}`)));
  });
  return { child, url, output: () => out };
}

const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));

describe("download-models serve (child process)", () => {
  it("fills a second store through the CLI with HF_ENDPOINT / MODELSCOPE_ENDPOINT, verifies, then stops cleanly on SIGINT", async () => {
    const h = await hub({ repos: [hfRepo(), msRepo()] });
    const first = await tempDir();
    expect((await download(h, first, [hfModel("acme/tiny-model"), msModel("acme/ms-model")])).failed).toBe(0);
    h.resetStats();
    const server = await serveChild(["--root", first]);
    const second = await tempDir();
    const env = { HF_ENDPOINT: server.url, MODELSCOPE_ENDPOINT: server.url, HOME: second };
    const got = await runCli(["--root", second, "hf:acme/tiny-model", "ms:acme/ms-model"], env);
    expect(got.code, got.stderr).toBe(0);
    const verified = await runCli(["verify", "--root", second], env);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(h.requests).toEqual([]);
    const blob = "huggingface/hub/models--acme--tiny-model/snapshots";
    const commit = (await readFile(join(first, "huggingface/hub/models--acme--tiny-model/refs/main"), "utf8")).trim();
    for (const p of ["model.safetensors", "config.json", "onnx/deep/model.onnx"]) {
      expect(sha256(await readFile(join(second, blob, commit, p)))).toBe(sha256(await readFile(join(first, blob, commit, p))));
    }
    // The access log has one line per request and never a token.
    expect(server.output()).toMatch(/GET \/acme\/tiny-model\/resolve\/[0-9a-f]{40}\/model\.safetensors 20[06] \d+/);
    const done = exited(server.child);
    server.child.kill("SIGINT");
    expect(await done).toBe(0);
    expect(server.output()).toContain("serve: stopped");
  });

  it("stops on SIGTERM in the middle of a transfer to a client that does not read", async () => {
    const h = await hub({ repos: [hfRepo()] });
    const root = await tempDir();
    expect((await download(h, root, [hfModel("acme/tiny-model")])).failed).toBe(0);
    const server = await serveChild(["--root", root, "--quiet"]);
    const res = await fetch(`${server.url}/acme/tiny-model/resolve/main/model.safetensors`);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read(); // headers and a first chunk in; the rest is left unread
    const t0 = Date.now();
    const done = exited(server.child);
    server.child.kill("SIGTERM");
    expect(await done).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    await reader.cancel().catch(() => {});
  });

  it("requires the token from --token-file, creating one when the file is missing, and never prints it", async () => {
    const h = await hub({ repos: [hfRepo()] });
    const root = await tempDir();
    expect((await download(h, root, [hfModel("acme/tiny-model")])).failed).toBe(0);
    const tokenFile = join(await tempDir(), "mirror.token");
    const server = await serveChild(["--root", root, "--token-file", tokenFile]);
    const token = (await readFile(tokenFile, "utf8")).trim();
    expect(token).toMatch(/^hf_[\w-]{20,}$/);
    const url = `${server.url}/api/models/acme/tiny-model`;
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    const done = exited(server.child);
    server.child.kill("SIGTERM");
    expect(await done).toBe(0);
    expect(server.output()).not.toContain(token);
  });
});
