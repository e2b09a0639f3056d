import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { makeRepo, type HubRepo } from "@download-models/local-hub";
import { download, hfModel, hub } from "../helpers/hub.ts";
import { tempDir } from "../helpers/tmp.ts";

const MiB = 1024 * 1024;
const engine = { rangeThreshold: 2 * MiB, chunkSize: 1 * MiB, connections: 8, attempts: 8, baseDelayMs: 2, stallMs: 400 };
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

const model = (id: string): HubRepo =>
  makeRepo({
    id,
    files: [
      { path: "model.safetensors", size: 20 * MiB + 11 },
      ...Array.from({ length: 30 }, (_, i) => ({ path: `tok/part-${i}.json`, size: 5_000 + i * 997, lfs: false })),
    ],
  });

/** Every blob in the cache hashes to its own name: nothing unverified ever got a final name. */
async function blobsAreSound(root: string, id: string): Promise<number> {
  const dir = join(root, "huggingface", "hub", `models--${id.replace("/", "--")}`, "blobs");
  let n = 0;
  for (const name of await readdir(dir).catch(() => [])) {
    if (name.includes(".")) continue; // .incomplete and range records are not final names
    const bytes = await readFile(join(dir, name));
    const digest = name.length === 64 ? sha256(bytes) : createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
    expect(digest).toBe(name);
    n++;
  }
  return n;
}

describe("faulty servers", () => {
  it("completes and verifies through a mix of drops, resets, 5xx, 429, truncated bodies and stalls", async () => {
    const r = model("acme/flaky");
    const h = await hub({
      repos: [r],
      faults: { drop: 0.1, error5xx: 0.05, reset: 0.03, rateLimit: 0.03, truncate: 0.03, stall: 0.02, retryAfterSeconds: 0, seed: 7 },
    });
    const root = await tempDir();
    const s = await download(h, root, [hfModel("acme/flaky")], { transfer: engine });
    expect(s.models[0]!.error).toBeUndefined();
    expect(s.models[0]!.status).toBe("downloaded");
    expect(await blobsAreSound(root, "acme/flaky")).toBe(31);
    const served = Object.fromEntries(h.faultCounts);
    expect(Object.values(served).reduce((a, b) => a + b, 0)).toBeGreaterThan(5);
    expect(served.drop).toBeGreaterThan(0);
  });

  it("always detects corruption (flipped bytes, extra bytes): a file either verifies or fails, never lands wrong", async () => {
    for (const seed of [1, 2, 3]) {
      const r = model(`acme/corrupt${seed}`);
      const h = await hub({ repos: [r], faults: { flip: 0.15, overflow: 0.1, seed } });
      const root = await tempDir();
      const s = await download(h, root, [hfModel(`acme/corrupt${seed}`)], { transfer: engine });
      const result = s.models[0]!;
      if (result.status === "failed") expect(result.error).toMatch(/do not match|more bytes than asked/);
      await blobsAreSound(root, `acme/corrupt${seed}`);
      expect((h.faultCounts.get("flip") ?? 0) + (h.faultCounts.get("overflow") ?? 0)).toBeGreaterThan(0);
    }
  });

  it("refuses a file whose bytes never match the listed hash (a wrong etag)", async () => {
    const r = model("acme/wrong");
    const liar = makeRepo({ id: "acme/other", files: [{ path: "model.safetensors", size: 20 * MiB + 11 }] }).commits[0]!.files[0]!;
    r.commits[0]!.files[0] = { ...r.commits[0]!.files[0]!, sha256: liar.sha256 }; // listing says one thing, bytes are another
    const h = await hub({ repos: [r] });
    const root = await tempDir();
    const s = await download(h, root, [hfModel("acme/wrong")], { transfer: engine });
    expect(s.models[0]!.error).toMatch(/model\.safetensors of acme\/wrong@main: the downloaded bytes do not match the hub's listing \(sha256 [0-9a-f]{64}, expected [0-9a-f]{64}\), twice/);
    await blobsAreSound(root, "acme/wrong");
  });
});
