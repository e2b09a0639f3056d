import { snapshotDownload } from "@huggingface/hub";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buffer } from "node:stream/consumers";
import { fetch, request } from "undici";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import {
  corruptFile,
  deterministicBytes,
  deterministicStream,
  makeRepo,
  startLocalHub,
  type HubRepo,
  type LocalHub,
} from "@download-models/local-hub";

const GOOD = "hf_good";
const PENDING = "hf_pending"; // valid, but has not accepted the gated repo's conditions
const auth = (token: string) => ({ authorization: `Bearer ${token}` });

const tiny = makeRepo({
  id: "acme/tiny-model",
  files: [
    { path: "config.json", text: '{"model_type":"tiny"}' },
    { path: "README.md", text: "# tiny\n" },
    { path: "model.safetensors", size: 300_000 },
    { path: "tokenizer/vocab.txt", size: 5_000 },
    { path: "tokenizer/special/map.json", text: "{}" },
    { path: "weights/big.bin", size: 2 * 1024 * 1024 + 123 },
  ],
  tags: ["v1.0"],
  extraBranches: { "refs/pr/1": [{ path: "config.json", text: '{"model_type":"pr"}' }] },
});
const secret = makeRepo({ id: "acme/secret", access: "private", files: [{ path: "a.txt", text: "a" }] });
const gated = makeRepo({ id: "acme/gated", access: "gated", files: [{ path: "w.safetensors", size: 1000 }] });

function mainCommit(repo: HubRepo) {
  const commit = repo.commits.find((c) => c.sha === repo.refs["main"]);
  if (!commit) throw new Error("no main commit");
  return commit;
}

function fileOf(repo: HubRepo, path: string) {
  const file = mainCommit(repo).files.find((f) => f.path === path);
  if (!file) throw new Error(`no ${path}`);
  return file;
}

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
const gitBlobSha1 = (bytes: Buffer) =>
  createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");

let hub: LocalHub;

beforeAll(async () => {
  hub = await startLocalHub({
    repos: [tiny, secret, gated],
    tokens: [GOOD, PENDING],
    gatedAcceptedTokens: [GOOD],
    pageSize: 3,
  });
});
afterAll(() => hub.close());
beforeEach(() => hub.resetStats());

async function call(url: string, init: { method?: "GET" | "HEAD" | "POST"; headers?: Record<string, string>; body?: string } = {}) {
  const res = await request(url, { method: init.method ?? "GET", headers: init.headers, body: init.body });
  const body = Buffer.from(await res.body.arrayBuffer());
  const header = (name: string) => {
    const value = res.headers[name.toLowerCase()];
    return Array.isArray(value) ? value.join(", ") : value;
  };
  return { status: res.statusCode, header, body, json: () => JSON.parse(body.toString("utf8")) as unknown };
}

describe("deterministic content", () => {
  it("produces any range without its prefix, identical to the full content", () => {
    const full = deterministicBytes("seed", 0, 200_000);
    // Buffer#equals: vitest's deep equality is slow on large buffers.
    expect(deterministicBytes("seed", 65_530, 131_080).equals(full.subarray(65_530, 131_080))).toBe(true);
    expect(deterministicBytes("seed", 7, 7)).toHaveLength(0);
    expect(deterministicBytes("other", 0, 1000).equals(full.subarray(0, 1000))).toBe(false);
  });

  it("streams the same bytes in bounded chunks", async () => {
    const stream = deterministicStream("seed", 1_000, 200_000);
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    await new Promise((resolve) => stream.on("end", resolve));
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThanOrEqual(64 * 1024);
    expect(Buffer.concat(chunks).equals(deterministicBytes("seed", 1_000, 200_000))).toBe(true);
  });
});

describe("makeRepo", () => {
  it("declares hashes that match the served content", async () => {
    for (const file of mainCommit(tiny).files) {
      const bytes = await buffer(file.read(0, file.size));
      expect(bytes).toHaveLength(file.size);
      expect(file.sha256).toBe(sha256(bytes));
      if (!file.lfs) expect(file.gitOid).toBe(gitBlobSha1(bytes));
    }
  });

  it("marks weights and large files as LFS, points tags at main and gives branches their own commit", () => {
    expect(fileOf(tiny, "model.safetensors").lfs).toBe(true);
    expect(fileOf(tiny, "weights/big.bin").lfs).toBe(true);
    expect(fileOf(tiny, "tokenizer/vocab.txt").lfs).toBe(false);
    expect(tiny.refs["v1.0"]).toBe(tiny.refs["main"]);
    expect(tiny.refs["refs/pr/1"]).toMatch(/^[0-9a-f]{40}$/);
    expect(tiny.refs["refs/pr/1"]).not.toBe(tiny.refs["main"]);
    expect(makeRepo({ id: "acme/tiny-model", files: [{ path: "x", text: "1" }] }).refs["main"]).not.toBe(tiny.refs["main"]);
  });
});

describe("revision endpoint", () => {
  it("resolves a branch to its commit with sorted siblings", async () => {
    const res = await call(`${hub.url}/api/models/acme/tiny-model/revision/main`);
    expect(res.status).toBe(200);
    expect(res.header("content-type")).toContain("application/json");
    expect(res.json()).toMatchObject({
      id: "acme/tiny-model",
      sha: tiny.refs["main"],
      private: false,
      gated: false,
      disabled: false,
      siblings: [
        { rfilename: "README.md" },
        { rfilename: "config.json" },
        { rfilename: "model.safetensors" },
        { rfilename: "tokenizer/special/map.json" },
        { rfilename: "tokenizer/vocab.txt" },
        { rfilename: "weights/big.bin" },
      ],
    });
  });

  it("accepts tags, encoded refs and commit shas", async () => {
    const sha = async (rev: string) =>
      ((await call(`${hub.url}/api/models/acme/tiny-model/revision/${rev}`)).json() as { sha: string }).sha;
    expect(await sha("v1.0")).toBe(tiny.refs["main"]);
    expect(await sha("refs%2Fpr%2F1")).toBe(tiny.refs["refs/pr/1"]);
    expect(await sha(tiny.refs["refs/pr/1"] ?? "")).toBe(tiny.refs["refs/pr/1"]);
  });

  it("answers RevisionNotFound for an unknown revision", async () => {
    const res = await call(`${hub.url}/api/models/acme/tiny-model/revision/nope`);
    expect(res.status).toBe(404);
    expect(res.header("x-error-code")).toBe("RevisionNotFound");
    expect(res.header("x-error-message")).toBe("Invalid rev id: nope");
    expect(res.json()).toEqual({ error: "Invalid rev id: nope" });
  });
});

describe("tree endpoint", () => {
  it("paginates a recursive listing through absolute Link headers", async () => {
    let url: string | undefined = `${hub.url}/api/models/acme/tiny-model/tree/main?recursive=true&expand=false`;
    const paths: string[] = [];
    let pages = 0;
    while (url) {
      const res = await call(url);
      expect(res.status).toBe(200);
      const page = res.json() as { path: string }[];
      expect(page.length).toBeLessThanOrEqual(3);
      paths.push(...page.map((e) => e.path));
      pages++;
      url = res.header("link")?.match(/^<([^>]+)>; rel="next"$/)?.[1];
      if (url) expect(url.startsWith(`${hub.url}/api/models/acme/tiny-model/tree/main?`)).toBe(true);
    }
    expect(pages).toBe(3);
    expect(paths).toEqual([
      "README.md",
      "config.json",
      "model.safetensors",
      "tokenizer",
      "tokenizer/special",
      "tokenizer/special/map.json",
      "tokenizer/vocab.txt",
      "weights",
      "weights/big.bin",
    ]);
  });

  it("lists only direct children without recursive, also below a path", async () => {
    const root = (await call(`${hub.url}/api/models/acme/tiny-model/tree/main`)).json() as { path: string }[];
    expect(root.map((e) => e.path)).toEqual(["README.md", "config.json", "model.safetensors"]);
    const sub = await call(`${hub.url}/api/models/acme/tiny-model/tree/main/tokenizer`);
    expect(sub.json()).toEqual([
      { type: "directory", oid: expect.stringMatching(/^[0-9a-f]{40}$/), size: 0, path: "tokenizer/special" },
      { type: "file", oid: fileOf(tiny, "tokenizer/vocab.txt").gitOid, size: 5_000, path: "tokenizer/vocab.txt" },
    ]);
    const missing = await call(`${hub.url}/api/models/acme/tiny-model/tree/main/nope`);
    expect(missing.status).toBe(404);
    expect(missing.header("x-error-code")).toBe("EntryNotFound");
  });

  it("describes LFS files with an lfs block", async () => {
    const entries = (await call(`${hub.url}/api/models/acme/tiny-model/tree/main?recursive=true`)).json();
    const model = fileOf(tiny, "model.safetensors");
    expect(entries).toContainEqual({
      type: "file",
      oid: model.gitOid,
      size: 300_000,
      path: "model.safetensors",
      lfs: { oid: model.sha256, size: 300_000, pointerSize: 131 },
    });
  });

  it("answers paths-info for JSON and form bodies", async () => {
    const url = `${hub.url}/api/models/acme/tiny-model/paths-info/main`;
    const json = await call(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ paths: ["config.json", "missing", "tokenizer"], expand: true }),
    });
    expect(json.json()).toMatchObject([
      { type: "file", path: "config.json", lastCommit: { id: tiny.refs["main"] } },
      { type: "directory", path: "tokenizer" },
    ]);
    const form = await call(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "paths=weights%2Fbig.bin&expand=false",
    });
    expect(form.json()).toEqual([expect.objectContaining({ path: "weights/big.bin", lfs: expect.any(Object) })]);
  });
});

describe("resolve", () => {
  const resolveUrl = (rev: string, path: string) => `${hub.url}/acme/tiny-model/resolve/${rev}/${path}`;

  it("sends plain files on a branch through a relative 307 to resolve-cache", async () => {
    const config = fileOf(tiny, "config.json");
    const head = await call(resolveUrl("main", "config.json"), { method: "HEAD" });
    expect(head.status).toBe(307);
    expect(head.header("location")).toBe(`/api/resolve-cache/models/acme/tiny-model/${tiny.refs["main"]}/config.json`);
    expect(head.header("x-repo-commit")).toBe(tiny.refs["main"]);

    const cached = await call(`${hub.url}${head.header("location")}`, { method: "HEAD" });
    expect(cached.status).toBe(200);
    expect(cached.header("etag")).toBe(`"${config.gitOid}"`);
    expect(cached.header("content-length")).toBe(String(config.size));
    expect(cached.header("accept-ranges")).toBe("bytes");
    expect(cached.header("x-repo-commit")).toBe(tiny.refs["main"]);
    expect(cached.body).toHaveLength(0);

    const get = await call(`${hub.url}${head.header("location")}`);
    expect(get.body.toString()).toBe('{"model_type":"tiny"}');
  });

  it("serves plain files directly when the revision is the commit sha", async () => {
    const res = await call(resolveUrl(tiny.refs["main"] ?? "", "tokenizer/vocab.txt"));
    expect(res.status).toBe(200);
    expect(gitBlobSha1(res.body)).toBe(fileOf(tiny, "tokenizer/vocab.txt").gitOid);
  });

  it("resolves encoded refs", async () => {
    const res = await call(resolveUrl("refs%2Fpr%2F1", "config.json"), { method: "HEAD" });
    expect(res.status).toBe(307);
    expect(res.header("x-repo-commit")).toBe(tiny.refs["refs/pr/1"]);
  });

  it("redirects LFS files to the CDN origin with the linked metadata", async () => {
    const model = fileOf(tiny, "model.safetensors");
    const head = await call(resolveUrl("main", "model.safetensors"), { method: "HEAD" });
    expect(head.status).toBe(302);
    const location = head.header("location") ?? "";
    expect(location).toMatch(new RegExp(`^${hub.cdnUrl}/cdn/${model.sha256}\\?X-Amz-Signature=[0-9a-f]+&X-Amz-Expires=3600$`));
    expect(hub.cdnUrl).not.toBe(hub.url);
    expect(head.header("x-linked-etag")).toBe(`"${model.sha256}"`);
    expect(head.header("x-linked-size")).toBe("300000");
    expect(head.header("etag")).toBe(`"${model.gitOid}"`);
    expect(head.header("x-repo-commit")).toBe(tiny.refs["main"]);

    const cdn = await call(location);
    expect(cdn.status).toBe(200);
    expect(cdn.header("etag")).toBe(`"${model.sha256}"`);
    expect(cdn.header("content-length")).toBe("300000");
    expect(sha256(cdn.body)).toBe(model.sha256);
  });

  it("follows redirects with fetch, and fetch drops Authorization on the way to the CDN", async () => {
    const big = fileOf(tiny, "weights/big.bin");
    const res = await fetch(resolveUrl("main", "weights/big.bin"), { headers: auth(GOOD) });
    expect(res.status).toBe(200);
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(big.sha256);
    expect(hub.requests.map((r) => [r.server, r.status, r.authorization])).toEqual([
      ["hub", 302, `Bearer ${GOOD}`],
      ["cdn", 200, undefined],
    ]);
    expect(hub.bytesServed).toBe(big.size);

    await call(`${hub.cdnUrl}/cdn/${big.sha256}`, { method: "HEAD", headers: auth("hf_sent_anyway") });
    expect(hub.requests.at(-1)).toMatchObject({ server: "cdn", method: "HEAD", status: 200, authorization: "Bearer hf_sent_anyway" });
  });

  it("answers Range requests with 206 or 416 on both listeners", async () => {
    const model = fileOf(tiny, "model.safetensors");
    const whole = await buffer(model.read(0, model.size));
    const cdnUrl = `${hub.cdnUrl}/cdn/${model.sha256}`;

    const part = await call(cdnUrl, { headers: { range: "bytes=65530-65545" } });
    expect(part.status).toBe(206);
    expect(part.header("content-range")).toBe("bytes 65530-65545/300000");
    expect(part.body).toEqual(whole.subarray(65_530, 65_546));

    const tail = await call(cdnUrl, { headers: { range: "bytes=299990-" } });
    expect(tail.header("content-range")).toBe("bytes 299990-299999/300000");
    expect(tail.body).toEqual(whole.subarray(299_990));

    const beyond = await call(cdnUrl, { headers: { range: "bytes=300000-" } });
    expect(beyond.status).toBe(416);
    expect(beyond.header("content-range")).toBe("bytes */300000");
    expect(hub.requests.at(-1)).toMatchObject({ range: "bytes=300000-", status: 416 });

    const vocab = fileOf(tiny, "tokenizer/vocab.txt");
    const hubPart = await call(`${hub.url}/acme/tiny-model/resolve/${tiny.refs["main"]}/tokenizer/vocab.txt`, {
      headers: { range: "bytes=10-19" },
    });
    expect(hubPart.status).toBe(206);
    expect(hubPart.header("content-range")).toBe("bytes 10-19/5000");
    expect(hubPart.body).toEqual((await buffer(vocab.read(0, vocab.size))).subarray(10, 20));
  });

  it("answers EntryNotFound and RevisionNotFound", async () => {
    const entry = await call(resolveUrl("main", "nope.bin"), { method: "HEAD" });
    expect(entry.status).toBe(404);
    expect(entry.header("x-error-code")).toBe("EntryNotFound");
    expect(entry.header("x-error-message")).toBe("Entry not found");
    expect(entry.header("x-repo-commit")).toBe(tiny.refs["main"]);

    const rev = await call(resolveUrl("dev", "config.json"));
    expect(rev.status).toBe(404);
    expect(rev.header("x-error-code")).toBe("RevisionNotFound");
    expect(rev.json()).toEqual({ error: "Invalid rev id: dev" });
  });

  it("streams a large file intact", async () => {
    const repo = makeRepo({ id: "acme/large", files: [{ path: "huge.safetensors", size: 48 * 1024 * 1024 + 7 }] });
    hub.addRepo(repo);
    const file = fileOf(repo, "huge.safetensors");
    const res = await fetch(`${hub.url}/acme/large/resolve/main/huge.safetensors`);
    const hash = createHash("sha256");
    let size = 0;
    for await (const chunk of res.body ?? []) {
      hash.update(chunk);
      size += chunk.length;
    }
    expect(size).toBe(file.size);
    expect(hash.digest("hex")).toBe(file.sha256);
  });
});

describe("access rules", () => {
  it("hides missing and private repos behind RepoNotFound", async () => {
    for (const url of [
      `${hub.url}/api/models/acme/missing/revision/main`,
      `${hub.url}/acme/missing/resolve/main/a.txt`,
      `${hub.url}/api/models/acme/secret/revision/main`,
      `${hub.url}/api/models/acme/secret/tree/main`,
      `${hub.url}/acme/secret/resolve/main/a.txt`,
    ]) {
      const res = await call(url);
      expect(res.status, url).toBe(401);
      expect(res.header("x-error-code")).toBe("RepoNotFound");
      expect(res.header("x-error-message")).toBe("Repository not found");
      expect(res.json()).toEqual({ error: "Repository not found" });
    }
    const withToken = await call(`${hub.url}/api/models/acme/secret/revision/main`, { headers: auth(GOOD) });
    expect(withToken.status).toBe(200);
    expect(withToken.json()).toMatchObject({ private: true });
  });

  it("rejects an unknown token with no error code", async () => {
    const res = await call(`${hub.url}/api/models/acme/tiny-model/revision/main`, { headers: auth("hf_wrong") });
    expect(res.status).toBe(401);
    expect(res.header("x-error-code")).toBeUndefined();
    expect(res.header("x-error-message")).toBe("Invalid credentials in Authorization header");
  });

  it("gates downloads but not the API of gated repos", async () => {
    const info = await call(`${hub.url}/api/models/acme/gated/revision/main`);
    expect(info.status).toBe(200);
    expect(info.json()).toMatchObject({ gated: "manual" });

    const url = `${hub.url}/acme/gated/resolve/main/w.safetensors`;
    const anonymous = await call(url, { method: "HEAD" });
    expect(anonymous.status).toBe(401);
    expect(anonymous.header("x-error-code")).toBe("GatedRepo");
    expect(anonymous.header("x-error-message")).toBe(
      "Access to model acme/gated is restricted. You must have access to it and be authenticated to access it. Please log in.",
    );
    const pending = await call(url, { headers: auth(PENDING) });
    expect(pending.status).toBe(403);
    expect(pending.header("x-error-code")).toBe("GatedRepo");
    expect(pending.header("x-error-message")).toBe(
      `Access to model acme/gated is restricted and you are not in the authorized list. Visit ${hub.url}/acme/gated to ask for access.`,
    );
    expect((await call(url, { method: "HEAD", headers: auth(GOOD) })).status).toBe(302);
  });

  it("answers 404 for anything that is not an emulated route", async () => {
    expect((await call(`${hub.url}/api/models/gpt2/revision/main`)).status).toBe(404);
    expect((await call(`${hub.url}/api/datasets/acme/tiny-model/revision/main`)).status).toBe(404);
    expect((await call(`${hub.cdnUrl}/cdn/${"0".repeat(64)}`)).status).toBe(404);
  });
});

describe("test hooks", () => {
  it("serves corrupted bytes under the original metadata", async () => {
    const original = fileOf(tiny, "model.safetensors");
    const bad = corruptFile(original, 100_000);
    expect({ ...bad, read: undefined }).toEqual({ ...original, read: undefined });
    hub.addRepo({ ...tiny, id: "acme/corrupt", commits: [{ sha: tiny.refs["main"] ?? "", files: [bad] }] });
    const res = await fetch(`${hub.url}/acme/corrupt/resolve/main/model.safetensors`);
    const served = Buffer.from(await res.arrayBuffer());
    const expected = await buffer(original.read(0, original.size));
    expect(served).toHaveLength(original.size);
    expect(sha256(served)).not.toBe(original.sha256);
    const differing = [...served.keys()].filter((i) => served[i] !== expected[i]);
    expect(differing).toEqual([100_000]);
  });

  it("lets intercept answer requests itself, and records them", async () => {
    let calls = 0;
    const faulty = await startLocalHub({
      repos: [tiny],
      intercept: (_req, res, server) => {
        if (server !== "hub" || calls++ > 0) return false;
        res.writeHead(429, { "Retry-After": "1" }).end();
        return true;
      },
    });
    try {
      const url = `${faulty.url}/api/models/acme/tiny-model/revision/main`;
      expect((await call(url)).status).toBe(429);
      expect((await call(url)).status).toBe(200);
      expect(faulty.requests.map((r) => r.status)).toEqual([429, 200]);
    } finally {
      await faulty.close();
    }
  });
});

describe("compatibility", () => {
  it("satisfies @huggingface/hub snapshotDownload across paginated listings and CDN redirects", async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), "local-hub-"));
    vi.spyOn(console, "debug").mockImplementation(() => {});
    try {
      const snapshot = await snapshotDownload({ repo: "acme/tiny-model", hubUrl: hub.url, cacheDir, accessToken: GOOD });
      const repoDir = join(cacheDir, "models--acme--tiny-model");
      expect(snapshot).toBe(join(repoDir, "snapshots", tiny.refs["main"] ?? ""));
      expect(await readFile(join(repoDir, "refs", "main"), "utf8")).toBe(tiny.refs["main"]);
      for (const file of mainCommit(tiny).files) {
        expect(sha256(await readFile(join(snapshot, file.path))), file.path).toBe(file.sha256);
      }
      const cdnRequests = hub.requests.filter((r) => r.server === "cdn");
      expect(cdnRequests.length).toBeGreaterThan(0);
      expect(cdnRequests.every((r) => r.authorization === undefined && r.status < 300)).toBe(true);
    } finally {
      vi.restoreAllMocks();
      await rm(cacheDir, { recursive: true, force: true });
    }
  });
});
