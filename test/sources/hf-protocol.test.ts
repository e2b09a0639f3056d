import { describe, expect, it } from "vitest";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { corruptFile, DEFAULT_TOKEN, makeRepo, type HubRepo } from "@download-models/local-hub";
import { download, hfModel, hub } from "../helpers/hub.ts";
import { tempDir } from "../helpers/tmp.ts";
import { IntegrityError } from "../../src/errors.ts";

const small = (id: string, access: HubRepo["access"] = "public") =>
  makeRepo({ id, access, files: [{ path: "config.json", text: "{}\n" }, { path: "model.safetensors", size: 50_000 }] });

async function listTree(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true })).sort();
  } catch {
    return [];
  }
}

describe("HuggingFace protocol and errors", () => {
  it("refuses a corrupted byte: nothing under a final name, no manifest, the other model still completes", async () => {
    const bad = small("acme/bad");
    const file = bad.commits[0]!.files[1]!;
    bad.commits[0]!.files[1] = corruptFile(file, 1234);
    const h = await hub({ repos: [bad, small("acme/good")] });
    const root = await tempDir();
    const s = await download(h, root, [hfModel("acme/bad"), hfModel("acme/good")]);
    expect(s.models.map((m) => m.status)).toEqual(["failed", "downloaded"]);
    expect(s.models[0]!.error).toMatch(/model\.safetensors of acme\/bad@main: the downloaded bytes do not match.*sha256 [0-9a-f]{64}, expected [0-9a-f]{64}/);
    const err = s.events.find((e) => e.type === "model-error");
    expect(err && "error" in err && err.error).toBeInstanceOf(IntegrityError);
    const dir = join(root, "huggingface", "hub", "models--acme--bad");
    const files = await listTree(dir);
    expect(files).not.toContain(`blobs/${file.sha256}`);
    expect(files.some((f) => f.startsWith(".download-models/"))).toBe(false);
    expect(files.some((f) => f.includes("model.safetensors"))).toBe(false);
    // it was fetched twice (one clean retry) before giving up
    expect(h.requests.filter((q) => q.server === "cdn" && q.path.includes(file.sha256)).length).toBe(2);
  });

  it("explains a missing repo, a private repo without token, and a bad revision", async () => {
    const h = await hub({ repos: [small("acme/secret", "private"), small("acme/open")] });
    const root = await tempDir();
    const s = await download(h, root, [hfModel("acme/nope"), hfModel("acme/secret"), hfModel("acme/open", { revision: "v9" })]);
    expect(s.failed).toBe(3);
    expect(s.models[0]!.error).toMatch(/acme\/nope was not found on HuggingFace, or it is private.*HF_TOKEN/);
    expect(s.models[1]!.error).toMatch(/acme\/secret was not found on HuggingFace, or it is private/);
    expect(s.models[2]!.error).toMatch(/Revision "v9" does not exist in acme\/open.*--revision/);
    expect(await listTree(join(root, "huggingface", "hub", "models--acme--nope"))).toEqual([]);

    const withToken = await download(h, root, [hfModel("acme/secret")], { env: { HF_TOKEN: DEFAULT_TOKEN } });
    expect(withToken.models[0]!.status).toBe("downloaded");
  });

  it("explains gated repos: accept the conditions and pass a token, or the token lacks access", async () => {
    const h = await hub({ repos: [small("acme/gated", "gated")], tokens: [DEFAULT_TOKEN, "hf_other"], gatedAcceptedTokens: [DEFAULT_TOKEN] });
    const root = await tempDir();
    const anon = await download(h, root, [hfModel("acme/gated")]);
    expect(anon.models[0]!.error).toMatch(new RegExp(`acme/gated is gated: accept its conditions at ${h.url}/acme/gated.*HF_TOKEN`));
    const other = await download(h, root, [hfModel("acme/gated")], { env: { HF_TOKEN: "hf_other" } });
    expect(other.models[0]!.error).toMatch(/acme\/gated is gated and the token's account has not been granted access/);
    expect(other.models[0]!.error).not.toContain("hf_other");
    const ok = await download(h, root, [hfModel("acme/gated")], { env: { HF_TOKEN: DEFAULT_TOKEN } });
    expect(ok.models[0]!.status).toBe("downloaded");
  });

  it("sends the token to the hub but never to the CDN the LFS redirect points at", async () => {
    const h = await hub({ repos: [small("acme/secret", "private")] });
    const s = await download(h, await tempDir(), [hfModel("acme/secret")], { env: { HF_TOKEN: DEFAULT_TOKEN } });
    expect(s.failed).toBe(0);
    const hubReqs = h.requests.filter((q) => q.server === "hub");
    const cdnReqs = h.requests.filter((q) => q.server === "cdn");
    expect(cdnReqs.length).toBeGreaterThan(0);
    expect(hubReqs.every((q) => q.authorization === `Bearer ${DEFAULT_TOKEN}`)).toBe(true);
    expect(cdnReqs.every((q) => q.authorization === undefined)).toBe(true);
  });

  it("follows a relative redirect (renamed repo / resolve-cache) keeping the token on the same host", async () => {
    const r = small("acme/renamed", "private");
    let redirected = 0;
    const h = await hub({
      repos: [r],
      intercept(req, res, server) {
        const m = server === "hub" && req.url?.match(/^\/acme\/renamed\/resolve\/([0-9a-f]{40})\/config\.json$/);
        if (!m) return false;
        redirected++;
        res.writeHead(307, { location: `/api/resolve-cache/models/acme/renamed/${m[1]}/config.json` }).end();
        return true;
      },
    });
    const root = await tempDir();
    const s = await download(h, root, [hfModel("acme/renamed")], { env: { HF_TOKEN: DEFAULT_TOKEN } });
    expect(s.failed).toBe(0);
    expect(redirected).toBe(1);
    const followed = h.requests.find((q) => q.path.startsWith("/api/resolve-cache/"));
    expect(followed?.authorization).toBe(`Bearer ${DEFAULT_TOKEN}`);
  });

  it("refuses a redirect to another scheme and a redirect loop, with a clear error", async () => {
    const h = await hub({
      repos: [small("acme/loop"), small("acme/ftp")],
      intercept(req, res) {
        if (req.url?.includes("/acme/loop/resolve/")) {
          res.writeHead(302, { location: req.url }).end();
          return true;
        }
        if (req.url?.includes("/acme/ftp/resolve/")) {
          res.writeHead(302, { location: "ftp://127.0.0.1/file" }).end();
          return true;
        }
        return false;
      },
    });
    const s = await download(h, await tempDir(), [hfModel("acme/loop"), hfModel("acme/ftp")]);
    expect(s.models[0]!.error).toMatch(/Too many redirects/);
    expect(s.models[1]!.error).toMatch(/Refusing a redirect to a ftp: URL/);
  });

  it("retries 429 and 5xx with Retry-After, then succeeds; a lasting 429 fails with a rate-limit message", async () => {
    let failures = 0;
    const h = await hub({
      repos: [small("acme/flaky"), small("acme/limited")],
      intercept(req, res, server) {
        if (server === "cdn" && failures < 2) {
          failures++;
          res.writeHead(failures === 1 ? 503 : 429, { "retry-after": "0" }).end();
          return true;
        }
        if (req.url?.startsWith("/acme/limited/resolve/")) {
          res.writeHead(429, { "retry-after": "0", ratelimit: '"resolvers";r=0;t=0' }).end();
          return true;
        }
        return false;
      },
    });
    const s = await download(h, await tempDir(), [hfModel("acme/flaky"), hfModel("acme/limited")]);
    expect(s.models[0]!.status).toBe("downloaded");
    expect(s.events.filter((e) => e.type === "file-retry").length).toBeGreaterThanOrEqual(2);
    expect(s.models[1]!.error).toMatch(
      /^HuggingFace rate limit hit while fetching (config\.json|model\.safetensors) of acme\/limited@main\. .*HF_TOKEN.*\(gave up after 3 attempts\)$/,
    );
  });

  it("continues a dropped transfer from the bytes already written (Range)", async () => {
    const r = makeRepo({ id: "acme/drop", files: [{ path: "model.safetensors", size: 2_000_000 }] });
    let dropped = false;
    const h = await hub({
      repos: [r],
      intercept(req, res, server) {
        if (server !== "cdn" || dropped) return false;
        dropped = true;
        const f = r.commits[0]!.files[0]!;
        res.writeHead(200, { "content-length": String(f.size), "accept-ranges": "bytes" });
        const stream = f.read(0, 700_000);
        stream.pipe(res, { end: false });
        stream.on("end", () => res.destroy());
        return true;
      },
    });
    const root = await tempDir();
    const s = await download(h, root, [hfModel("acme/drop")]);
    expect(s.models[0]!.status).toBe("downloaded");
    const resumed = h.requests.filter((q) => q.server === "cdn").at(-1);
    const [, from, to] = resumed!.range!.match(/^bytes=(\d+)-(\d+)$/)!;
    expect(Number(from)).toBeGreaterThan(0);
    expect(Number(to)).toBe(1_999_999);
    expect(s.models[0]!.downloadedBytes).toBe(2_000_000);
  });

  it("retries a 503 on the API, and names the endpoint it cannot reach", async () => {
    let failed = 0;
    const h = await hub({
      repos: [small("acme/api")],
      intercept(req, res) {
        if (req.url?.includes("/tree/") && failed++ === 0) {
          res.writeHead(503).end("busy");
          return true;
        }
        return false;
      },
    });
    const s = await download(h, await tempDir(), [hfModel("acme/api")]);
    expect(s.models[0]!.status).toBe("downloaded");
    expect(failed).toBe(2);

    const closed = await hub({ repos: [] });
    const url = closed.url;
    await closed.close();
    const d = await download(h, await tempDir(), [hfModel("acme/api")], { env: { HF_ENDPOINT: url } });
    expect(d.models[0]!.error).toMatch(new RegExp(`Cannot reach ${url}: .*ECONNREFUSED|Cannot reach ${url}`));
  });

  it("dry run resolves and reports sizes but writes nothing", async () => {
    const h = await hub({ repos: [small("acme/plan")] });
    const root = await tempDir();
    const s = await download(h, root, [hfModel("acme/plan")], { dryRun: true });
    expect(s.models[0]).toMatchObject({ status: "planned", files: 2, bytes: 50_003, downloadedBytes: 50_003 });
    expect(await listTree(join(root, "huggingface"))).toEqual([]);
    expect(h.requests.some((q) => q.server === "cdn")).toBe(false);
  });

  it("fetches a blob shared by two requests of the same repo once", async () => {
    const h = await hub({ repos: [small("acme/shared")] });
    const root = await tempDir();
    const s = await download(h, root, [hfModel("acme/shared"), hfModel("acme/shared", { include: ["*.safetensors"] })]);
    expect(s.failed).toBe(0);
    expect(h.requests.filter((q) => q.server === "cdn").length).toBe(1);
    const manifests = await readdir(join(root, "huggingface", "hub", "models--acme--shared", ".download-models"));
    expect(manifests).toHaveLength(2);
    expect(JSON.parse(await readFile(join(root, "huggingface", "hub", "models--acme--shared", ".download-models", "main.json"), "utf8")).files).toHaveLength(2);
  });
});
