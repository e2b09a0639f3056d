import { describe, expect, it } from "vitest";
import { readFile, readdir, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { Agent } from "undici";
import { corruptFile, makeRepo } from "@download-models/local-hub";
import { loadRegistry } from "../../src/sources/registry.ts";
import { resolveRoots } from "../../src/store/roots.ts";
import { runDownload } from "../../src/download/run-download.ts";
import { hub } from "../helpers/hub.ts";
import { tempDir } from "../helpers/tmp.ts";

const README = join(import.meta.dirname, "..", "..", "downloaders", "README.md");
const DEFINE = join(import.meta.dirname, "..", "..", "src", "define.ts");

/** The example of downloaders/README.md, with its URL, size and hash pointed at a file the local hub serves. */
async function exampleDownloader(dir: string, served: { url: string; size: number; sha256: string }): Promise<string> {
  const readme = await readFile(README, "utf8");
  const code = readme.split("<!-- example: downloaders/direct.ts")[1]!.split("```ts\n")[1]!.split("```")[0]!;
  const pointed = code
    .replace('"download-models/define"', JSON.stringify(DEFINE))
    .replace("https://dl.fbaipublicfiles.com/demucs/hybrid_transformer/955717e8-8726e21a.th", served.url)
    .replace("84_141_911", String(served.size))
    .replace("8726e21a993978c7ba086d3872e7608d7d5bfca646ca4aca459ffda844faa8b4", served.sha256);
  expect(pointed).not.toContain("fbaipublicfiles"); // the substitution really happened
  await mkdir(join(dir, "downloaders"), { recursive: true });
  await writeFile(join(dir, "downloaders", "direct.ts"), pointed);
  return join(dir, "downloaders");
}

describe("custom downloader from downloaders/README.md", () => {
  it("downloads a plain HTTPS file with sha256 into the plain layout, then skips it with zero requests", async () => {
    // The local hub's CDN serves any blob by sha256, the way a plain HTTPS host serves a published file.
    const holder = makeRepo({ id: "cdn/holder", files: [{ path: "955717e8-8726e21a.th", size: 300_000 }] });
    const h = await hub({ repos: [holder] });
    const file = holder.commits[0]!.files[0]!;
    const dir = await tempDir();
    const downloaders = await exampleDownloader(dir, { url: `${h.cdnUrl}/cdn/${file.sha256}`, size: file.size, sha256: file.sha256 });
    const registry = await loadRegistry([downloaders]);
    const root = join(dir, "root");
    const dispatcher = new Agent();
    const run = () =>
      runDownload({
        models: [{ source: "direct", id: "demucs/htdemucs", revision: "main", include: [], exclude: [], projects: [] }],
        registry, roots: resolveRoots({ root, env: {} }), env: {}, dispatcher, transfer: { attempts: 2, baseDelayMs: 5 },
      });
    const first = await run();
    expect(first.models[0]).toMatchObject({ status: "downloaded", files: 1, bytes: 300_000 });
    const placed = join(root, "direct", "demucs", "htdemucs");
    expect((await readdir(placed)).sort()).toEqual([".download-models", "955717e8-8726e21a.th"]);
    expect((await readFile(join(placed, "955717e8-8726e21a.th"))).length).toBe(300_000);

    h.resetStats();
    const second = await run();
    expect(second.models[0]!.status).toBe("skipped");
    expect(h.requests).toHaveLength(0);
    await dispatcher.close();
  });

  it("refuses bytes that do not match the published sha256 and leaves nothing under the final name", async () => {
    const holder = makeRepo({ id: "cdn/holder", files: [{ path: "w.th", size: 100_000 }] });
    holder.commits[0]!.files[0] = corruptFile(holder.commits[0]!.files[0]!, 5);
    const h = await hub({ repos: [holder] });
    const file = holder.commits[0]!.files[0]!;
    const dir = await tempDir();
    const registry = await loadRegistry([await exampleDownloader(dir, { url: `${h.cdnUrl}/cdn/${file.sha256}`, size: file.size, sha256: file.sha256 })]);
    const root = join(dir, "root");
    const s = await runDownload({
      models: [{ source: "direct", id: "demucs/htdemucs", revision: "main", include: [], exclude: [], projects: [] }],
      registry, roots: resolveRoots({ root, env: {} }), env: {}, transfer: { attempts: 2, baseDelayMs: 5 },
    });
    expect(s.models[0]!.error).toMatch(/955717e8-8726e21a\.th of demucs\/htdemucs@main: the downloaded bytes do not match/);
    await expect(readdir(join(root, "direct", "demucs", "htdemucs"))).resolves.not.toContain("955717e8-8726e21a.th");
  });

  it("an unknown id fails that model with the downloader's own message", async () => {
    const dir = await tempDir();
    const registry = await loadRegistry([await exampleDownloader(dir, { url: "http://127.0.0.1:9/x", size: 1, sha256: "0".repeat(64) })]);
    const s = await runDownload({
      models: [{ source: "direct", id: "demucs/nope", revision: "main", include: [], exclude: [], projects: [] }],
      registry, roots: resolveRoots({ root: join(dir, "r"), env: {} }), env: {},
    });
    expect(s.models[0]!.error).toBe("demucs/nope is not in the direct catalog; known: demucs/htdemucs");
  });
});
