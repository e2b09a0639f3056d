import { describe, expect, it, onTestFinished } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { makeRepo } from "@download-models/local-hub";
import { hub } from "../helpers/hub.ts";
import { runMain } from "../helpers/cli.ts";
import { tempDir } from "../helpers/tmp.ts";

const MB = 1_000_000;

/** A real 8 MB filesystem (tmpfs), when this machine lets us mount one (root in a VM: yes). */
async function smallFs(): Promise<string | undefined> {
  const dir = join(await tempDir(), "small");
  await mkdir(dir);
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", dir], { stdio: "ignore" });
  } catch {
    return undefined;
  }
  onTestFinished(() => {
    execFileSync("umount", ["-l", dir], { stdio: "ignore" });
  });
  return dir;
}

const canMount = await (async () => {
  try {
    execFileSync("sh", ["-c", "test $(id -u) -eq 0 && command -v mount"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!canMount)("disk full (a real 8 MB tmpfs)", () => {
  it("refuses before downloading when the free space is smaller than what is missing, with the numbers", async (ctx) => {
    const fs = await smallFs();
    if (!fs) return ctx.skip(); // mounting was refused here: reported as skipped, not as passed
    const h = await hub({ repos: [makeRepo({ id: "acme/big", files: [{ path: "model.safetensors", size: 12 * MB }, { path: "config.json", text: "{}" }] })] });
    const r = await runMain(["acme/big", "--root", fs], { HF_ENDPOINT: h.url });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Not enough disk space for acme\/big@main under .*: 12\.0 MB to download, [\d.]+ MB free\. Nothing was downloaded for it\./);
    expect(h.requests.some((q) => q.server === "cdn")).toBe(false);
  });

  it("stops with a clear error when the disk fills anyway, and keeps what was written for a later run", async (ctx) => {
    const fs = await smallFs();
    if (!fs) return ctx.skip();
    const file = { path: "model.safetensors", size: 20 * MB };
    const r = makeRepo({ id: "acme/fill", files: [file] });
    const h = await hub({ repos: [r] });
    const res = await runMain(["acme/fill", "--root", fs, "--no-space-check", "--connections", "2"], { HF_ENDPOINT: h.url, DOWNLOAD_MODELS_CHUNK_MB: "1" });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/model\.safetensors of acme\/fill@main: the disk is full .*the bytes written so far are kept|ENOSPC/);
    const blobs = await readdir(join(fs, "huggingface", "hub", "models--acme--fill", "blobs"));
    const sha = r.commits[0]!.files[0]!.sha256;
    expect(blobs).not.toContain(sha);
    expect(blobs).toContain(`${sha}.incomplete`);
  });
});
