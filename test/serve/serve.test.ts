import { downloadFile, listFiles, snapshotDownload } from "@huggingface/hub";
import { createHash } from "node:crypto";
import { lstat, mkdtemp, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fetch } from "undici";
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { HubRepo, LocalHub } from "../../local-hub/index.ts";
import { makeRepo, startLocalHub } from "../../local-hub/index.ts";
import { tmpdir } from "node:os";
import { builtinDownloaders, createRegistry } from "../../src/sources/index.ts";
import { resolveRoots, verifyModels } from "../../src/store/index.ts";
import { download, hfModel, msModel } from "../helpers/hub.ts";
import { hfRepo, mirrorOf, msRepo, rawRequest } from "../helpers/mirror.ts";
import { tempDir, walk } from "../helpers/tmp.ts";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const HF = "models--acme--tiny-model";

let hf: HubRepo;
let ms: HubRepo;
let filled: string;
let hub: LocalHub;

// One filled store for the read-only tests: main and dev of the HF repo, master of the ModelScope one.
beforeAll(async () => {
  hf = hfRepo();
  ms = msRepo();
  hub = await startLocalHub({ repos: [hf, ms] });
  filled = await mkdtemp(join(tmpdir(), "dm-serve-"));
  const env = { HOME: filled, HF_ENDPOINT: hub.url, MODELSCOPE_ENDPOINT: hub.url };
  const { runDownload } = await import("../../src/download/index.ts");
  const summary = await runDownload({
    models: [hfModel("acme/tiny-model"), hfModel("acme/tiny-model", { revision: "dev" }), msModel("acme/ms-model")],
    registry: createRegistry(builtinDownloaders), roots: resolveRoots({ root: filled, env }), env,
  });
  expect(summary.failed).toBe(0);
  hub.resetStats();
  return async () => {
    await hub.close();
    await rm(filled, { recursive: true, force: true });
  };
});

const main = () => hf.refs.main!;
const file = (repo: HubRepo, path: string, commit = 0) => repo.commits[commit]!.files.find((f) => f.path === path)!;

describe("serve: HuggingFace clients", () => {
  it("@huggingface/hub listFiles, downloadFile and snapshotDownload get the hub's bytes, with no request to the hub", async () => {
    const m = await mirrorOf(filled, { pageSize: 2 });
    const listed = [];
    for await (const e of listFiles({ repo: "acme/tiny-model", hubUrl: m.url, recursive: true })) listed.push(e);
    // pageSize 2: every entry arrives only if the absolute Link pages are followed.
    expect(listed.filter((e) => e.type === "file").map((e) => e.path).sort()).toEqual(hf.commits[0]!.files.map((f) => f.path).sort());
    const lfsEntry = listed.find((e) => e.path === "model.safetensors")!;
    expect(lfsEntry.lfs?.oid).toBe(file(hf, "model.safetensors").sha256);
    expect(lfsEntry.oid).toBe(file(hf, "model.safetensors").gitOid);
    expect(listed.every((e) => !("xetHash" in e) || e.xetHash === undefined)).toBe(true);

    const blob = await downloadFile({ repo: "acme/tiny-model", path: "onnx/deep/model.onnx", hubUrl: m.url });
    expect(sha256(new Uint8Array(await blob!.arrayBuffer()))).toBe(file(hf, "onnx/deep/model.onnx").sha256);
    expect(await downloadFile({ repo: "acme/tiny-model", path: "absent.bin", hubUrl: m.url })).toBeNull();

    const cacheDir = await tempDir();
    vi.spyOn(console, "debug").mockImplementation(() => {});
    const snap = await snapshotDownload({ repo: "acme/tiny-model", hubUrl: m.url, cacheDir });
    vi.restoreAllMocks();
    expect(snap).toBe(join(cacheDir, HF, "snapshots", main()));
    for (const f of hf.commits[0]!.files) expect(sha256(await readFile(join(snap, f.path))), f.path).toBe(f.sha256);
    // The dev branch too, by name.
    const dev = await downloadFile({ repo: "acme/tiny-model", path: "config.json", revision: "dev", hubUrl: m.url });
    expect(await dev!.text()).toBe('{"dev":true}\n');
    expect(hub.requests).toEqual([]);
  });

  it("fills a second store from serve that is byte-identical and verifies, with zero requests to the original hub", async () => {
    const m = await mirrorOf(filled);
    const second = await tempDir();
    const fake = { url: m.url } as LocalHub;
    const summary = await download(fake, second, [hfModel("acme/tiny-model"), hfModel("acme/tiny-model", { revision: "dev" }), msModel("acme/ms-model")]);
    expect(summary.models.map((r) => r.error ?? r.status)).toEqual(["downloaded", "downloaded", "downloaded"]);
    expect(hub.requests).toEqual([]);
    // Every blob, link, ref, listing cache and ModelScope marker is the same; only manifests carry a completion time,
    // and the model leases under .locks/ (which readers skip) are each process's own.
    const files = (await walk(join(filled, "huggingface"))).concat((await walk(join(filled, "modelscope"))).map((p) => `../modelscope/${p}`));
    const compared = files.filter((p) => (!p.includes(".download-models/") || p.endsWith("/current")) && !p.includes(".locks/"));
    expect(compared.length).toBeGreaterThan(15);
    expect((await walk(join(second, "huggingface"))).filter((p) => !p.includes(".download-models/") && !p.includes(".locks/")).sort()).toEqual(compared.filter((p) => !p.startsWith("../")).sort());
    for (const p of compared) {
      const a = join(filled, "huggingface", p);
      const b = join(second, "huggingface", p);
      const st = await lstat(a);
      if (st.isSymbolicLink()) expect(await readlink(b), p).toBe(await readlink(a));
      else expect((await readFile(b)).equals(await readFile(a)), p).toBe(true);
    }
    const models = summary.models.map((r) => ({ source: r.source, id: r.id, revision: r.revision, include: [], exclude: [], projects: [] }));
    const results = await verifyModels({ models, registry: createRegistry(builtinDownloaders), roots: resolveRoots({ root: second, env: {} }) });
    expect(results.map((r) => r.status)).toEqual(["ok", "ok", "ok"]);
  });
});

describe("serve: resolve semantics", () => {
  const resolveUrl = (base: string, path: string, rev = "main") => `${base}/acme/tiny-model/resolve/${rev}/${path}`;

  it("answers HEAD like GET without a body, with X-Repo-Commit, ETag and X-Linked-* for LFS files", async () => {
    const m = await mirrorOf(filled);
    const lfs = file(hf, "model.safetensors");
    const head = await fetch(resolveUrl(m.url, "model.safetensors"), { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("x-repo-commit")).toBe(main());
    expect(head.headers.get("etag")).toBe(`"${lfs.sha256}"`);
    expect(head.headers.get("x-linked-etag")).toBe(`"${lfs.sha256}"`);
    expect(head.headers.get("x-linked-size")).toBe(String(lfs.size));
    expect(head.headers.get("content-length")).toBe(String(lfs.size));
    expect(head.headers.get("content-encoding")).toBeNull();
    const plain = file(hf, "tokenizer.json");
    const get = await fetch(resolveUrl(m.url, "tokenizer.json"), { headers: { "accept-encoding": "gzip, deflate" } });
    expect(get.headers.get("etag")).toBe(`"${plain.gitOid}"`);
    expect(get.headers.get("x-linked-etag")).toBeNull();
    expect(sha256(new Uint8Array(await get.arrayBuffer()))).toBe(plain.sha256);
  });

  it("serves single ranges as 206 with Content-Range, 416 past the end, and bytes */0 for an empty file", async () => {
    const m = await mirrorOf(filled);
    const size = file(hf, "model.safetensors").size;
    const whole = Buffer.from(await (await fetch(resolveUrl(m.url, "model.safetensors", main()))).arrayBuffer());
    const range = async (r: string, path = "model.safetensors") => {
      const res = await fetch(resolveUrl(m.url, path, main()), { headers: { range: r } });
      return { status: res.status, cr: res.headers.get("content-range"), commit: res.headers.get("x-repo-commit"), body: Buffer.from(await res.arrayBuffer()) };
    };
    const a = await range("bytes=10-19");
    expect([a.status, a.cr, a.commit]).toEqual([206, `bytes 10-19/${size}`, main()]);
    expect(a.body.equals(whole.subarray(10, 20))).toBe(true);
    const tail = await range("bytes=-5");
    expect([tail.status, tail.cr]).toEqual([206, `bytes ${size - 5}-${size - 1}/${size}`]);
    expect(tail.body.equals(whole.subarray(size - 5))).toBe(true);
    const open = await range(`bytes=${size - 3}-`);
    expect(open.body.length).toBe(3);
    const clamped = await range(`bytes=${size - 2}-${size + 100}`);
    expect(clamped.cr).toBe(`bytes ${size - 2}-${size - 1}/${size}`);
    const past = await range(`bytes=${size}-`);
    expect([past.status, past.cr]).toEqual([416, `bytes */${size}`]);
    const empty = await range("bytes=0-0", "empty.txt");
    expect([empty.status, empty.cr, empty.body.length]).toEqual([206, "bytes */0", 0]);
    const several = await range("bytes=0-1,5-6");
    expect([several.status, several.body.length]).toEqual([200, size]);
  });

  it("gives each miss the status and error headers clients map to their own not-found errors", async () => {
    const m = await mirrorOf(filled);
    const probe = async (url: string) => {
      const res = await fetch(url);
      return { status: res.status, code: res.headers.get("x-error-code"), commit: res.headers.get("x-repo-commit"), body: await res.json() as { error: string } };
    };
    expect(await probe(`${m.url}/acme/nope/resolve/main/config.json`)).toMatchObject({ status: 404, code: "RepoNotFound", commit: null });
    expect(await probe(resolveUrl(m.url, "config.json", "nobranch"))).toMatchObject({ status: 404, code: "RevisionNotFound", body: { error: "Invalid rev id: nobranch" } });
    expect(await probe(resolveUrl(m.url, "absent.json"))).toMatchObject({ status: 404, code: "EntryNotFound", commit: main() });
    expect(await probe(`${m.url}/api/models/acme/tiny-model/tree/main/additional_chat_templates?recursive=False&expand=False`)).toMatchObject({ status: 404, code: "EntryNotFound" });
    expect(await probe(`${m.url}/api/models/acme/tiny-model/xet-read-token/main`)).toMatchObject({ status: 404 });
    expect(await probe(`${m.url}/api/agent-harnesses`)).toMatchObject({ status: 404 });
    expect(await probe(`${m.url}/api/v1/models/acme/nope/revisions`)).toMatchObject({ status: 404, body: { Success: false } });
    expect(await probe(`${m.url}/api/v1/models/acme/ms-model/repo?Revision=v9&FilePath=configuration.json`)).toMatchObject({ status: 404, body: { Success: false } });
  });

  it("reads Python's and JS's request spellings: form and JSON paths-info, True/true, encoded tree paths", async () => {
    const m = await mirrorOf(filled);
    const base = `${m.url}/api/models/acme/tiny-model`;
    const form = await fetch(`${base}/paths-info/${main()}`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "paths=config.json&paths=onnx&paths=absent&expand=False" });
    expect(((await form.json()) as { path: string; type: string }[]).map((e) => [e.path, e.type])).toEqual([["config.json", "file"], ["onnx", "directory"]]);
    const json = await fetch(`${base}/paths-info/main`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ paths: ["model.safetensors"], expand: true }) });
    const [entry] = (await json.json()) as { lfs: { oid: string }; lastCommit: { id: string } }[];
    expect([entry!.lfs.oid, entry!.lastCommit.id]).toEqual([file(hf, "model.safetensors").sha256, main()]);
    const py = (await (await fetch(`${base}/tree/main/onnx%2Fdeep?recursive=False&expand=False`)).json()) as { path: string }[];
    expect(py.map((e) => e.path)).toEqual(["onnx/deep/model.onnx"]);
    const top = (await (await fetch(`${base}/tree/main?recursive=false`)).json()) as { path: string }[];
    expect(top.map((e) => e.path)).toEqual(["config.json", "empty.txt", "model.safetensors", "onnx", "tokenizer.json"]);
    const info = (await (await fetch(`${base}/revision/${encodeURIComponent("dev")}?blobs=True`)).json()) as { sha: string; siblings: { rfilename: string; lfs?: { pointerSize: number } }[] };
    expect(info.sha).toBe(hf.refs.dev);
    expect(info.siblings.find((x) => x.rfilename === "model.safetensors")?.lfs?.pointerSize).toBeGreaterThan(125);
    // If-Range with another ETag: the whole file, not the range.
    const res = await fetch(resolveUrl(m.url, "config.json"), { headers: { range: "bytes=0-0", "if-range": '"0000"' } });
    expect([res.status, (await res.text()).length]).toEqual([200, 8]);
  });

  it("lists a file a filtered download left out, but answers it as not mirrored, without X-Repo-Commit", async () => {
    const r = hfRepo();
    const h = await startLocalHub({ repos: [r] });
    const root = await tempDir();
    try {
      expect((await download(h, root, [hfModel("acme/tiny-model", { include: ["*.json"] })])).failed).toBe(0);
    } finally {
      await h.close();
    }
    const m = await mirrorOf(root);
    const tree = (await (await fetch(`${m.url}/api/models/acme/tiny-model/tree/main?recursive=true`)).json()) as { path: string }[];
    expect(tree.map((e) => e.path)).toContain("model.safetensors");
    const res = await fetch(resolveUrl(m.url, "model.safetensors"));
    expect([res.status, res.headers.get("x-error-code"), res.headers.get("x-repo-commit")]).toEqual([404, "EntryNotFound", null]);
    expect((await fetch(resolveUrl(m.url, "config.json"))).status).toBe(200);
  });
});

describe("serve: ModelScope clients", () => {
  it("serves revisions, the listing with per-file revision and sha256, and exact ranges", async () => {
    const m = await mirrorOf(filled);
    const base = `${m.url}/api/v1/models/acme/ms-model`;
    const revs = (await (await fetch(`${base}/revisions`)).json()) as { Data: { RevisionMap: { Branches: { Revision: string }[]; Tags: unknown[] } } };
    expect(revs.Data.RevisionMap.Branches.map((b) => b.Revision)).toEqual(["master"]);
    expect(revs.Data.RevisionMap.Tags).toEqual([]);
    const listing = (await (await fetch(`${base}/repo/files?Revision=master&Recursive=True`)).json()) as { Data: { Files: { Path: string; Sha256: string; Revision: string }[] } };
    const w = file(ms, "pytorch_model.bin");
    expect(listing.Data.Files.find((f) => f.Path === "pytorch_model.bin")).toMatchObject({ Sha256: w.sha256 });
    const res = await fetch(`${base}/repo?Revision=master&FilePath=pytorch_model.bin`, { headers: { range: `bytes=100-${w.size - 1}` } });
    expect([res.status, res.headers.get("content-range")]).toEqual([206, `bytes 100-${w.size - 1}/${w.size}`]);
    expect((await res.arrayBuffer()).byteLength).toBe(w.size - 100);
  });
});

describe("serve: safety", () => {
  it("never serves a path outside the listings: encoded ../, absolute paths, manifests and store internals", async () => {
    const m = await mirrorOf(filled);
    const attempts = [
      `/acme/tiny-model/resolve/main/..%2F..%2F..%2F..%2Fetc%2Fpasswd`,
      `/acme/tiny-model/resolve/main/%2e%2e/%2e%2e/refs/main`,
      `/acme/tiny-model/resolve/main/%2Fetc%2Fpasswd`,
      `/acme/tiny-model/resolve/main/.download-models/main.json`,
      `/acme/tiny-model/resolve/main/..%5C..%5Cetc%5Cpasswd`,
      `/acme/tiny-model/resolve/${main()}/blobs/${file(hf, "model.safetensors").sha256}`,
      `/acme%2F..%2F..%2Fetc/resolve/main/passwd`,
      `/api/v1/models/acme/ms-model/repo?Revision=master&FilePath=..%2F..%2F..%2F.download-models%2Frecords`,
      `/api/v1/models/acme/ms-model/repo?Revision=master&FilePath=%2Fetc%2Fpasswd`,
      `/api/v1/models/acme/ms-model/repo?Revision=master&FilePath=.msc`,
    ];
    for (const path of attempts) {
      const res = await fetch(m.url + path);
      const body = Buffer.from(await res.arrayBuffer()).toString("latin1");
      expect(res.status, path).toBe(404);
      expect(body, path).not.toMatch(/root:|"tool":|"format"/);
    }
    // A raw request line with literal dot segments (fetch would normalise them away).
    const raw = await rawRequest(m.url, "GET /acme/tiny-model/resolve/main/../../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(raw).toMatch(/^HTTP\/1.1 404/);
    expect(raw).not.toMatch(/root:/);
  });

  it("refuses a stored file that became a symlink leading out of the store", async () => {
    const r = msRepo();
    const h = await startLocalHub({ repos: [r] });
    const root = await tempDir();
    try {
      expect((await download(h, root, [msModel("acme/ms-model")])).failed).toBe(0);
    } finally {
      await h.close();
    }
    const outside = await tempDir();
    const w = file(r, "pytorch_model.bin");
    const modelFile = join(root, "modelscope", "models", "acme", "ms-model", "pytorch_model.bin");
    await writeFile(join(outside, "secret"), Buffer.alloc(w.size, 0x41));
    await rm(modelFile);
    await symlink(join(outside, "secret"), modelFile);
    const m = await mirrorOf(root);
    const res = await fetch(`${m.url}/api/v1/models/acme/ms-model/repo?Revision=master&FilePath=pytorch_model.bin`);
    expect(res.status).toBe(404);
    expect(Buffer.from(await res.arrayBuffer()).includes(Buffer.from("AAAA"))).toBe(false);
  });

  it("survives malformed requests and a slow client, and keeps serving everyone else", async () => {
    const m = await mirrorOf(filled);
    const answers = await Promise.all([
      rawRequest(m.url, "GARBAGE\r\n\r\n"),
      rawRequest(m.url, Buffer.from([0, 1, 2, 255, 254, 13, 10, 13, 10])),
      rawRequest(m.url, "GET /acme/tiny-model/resolve/main/%zz HTTP/1.1\r\nHost: x\r\n\r\n"),
      rawRequest(m.url, `GET /${"a".repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`),
      rawRequest(m.url, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(40_000)}\r\n\r\n`),
      rawRequest(m.url, "DELETE /acme/tiny-model/resolve/main/config.json HTTP/1.1\r\nHost: x\r\n\r\n"),
      rawRequest(m.url, "GET /acme/tiny-model/resolve/main/model.safetensors HTTP/1.1\r\nHost: x\r\nRange: bytes=zz-\r\n\r\n", 300),
      rawRequest(m.url, "POST /api/models/acme/tiny-model/paths-info/main HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n{nope"),
    ]);
    expect(answers[0]).toMatch(/^HTTP\/1.1 400/);
    expect(answers[2]).toMatch(/^HTTP\/1.1 400/);
    expect(answers[3]).toMatch(/^HTTP\/1.1 (414|431|400)/);
    expect(answers[4]).toMatch(/^HTTP\/1.1 431/);
    expect(answers[5]).toMatch(/^HTTP\/1.1 405/);
    expect(answers[7]).toMatch(/^HTTP\/1.1 400/);
    // A slowloris (headers never finished) and a reader that never reads a big body stay open meanwhile.
    const { connect } = await import("node:net");
    const { port } = new URL(m.url);
    const loris = connect(Number(port), "127.0.0.1", () => loris.write("GET / HTTP/1.1\r\nHost: x\r\n"));
    const stalled = connect(Number(port), "127.0.0.1", () => stalled.write(`GET /acme/tiny-model/resolve/main/model.safetensors HTTP/1.1\r\nHost: x\r\n\r\n`));
    stalled.pause();
    loris.on("error", () => {});
    stalled.on("error", () => {});
    await new Promise((r) => setTimeout(r, 200));
    const res = await fetch(`${m.url}/acme/tiny-model/resolve/main/model.safetensors`);
    expect(sha256(new Uint8Array(await res.arrayBuffer()))).toBe(file(hf, "model.safetensors").sha256);
    loris.destroy();
    stalled.destroy();
  });

  it("with a token: 401 without it or with a wrong one, served with it as Bearer or ModelScope cookie", async () => {
    const token = "hf_mirror_secret_token";
    const m = await mirrorOf(filled, { token });
    const url = `${m.url}/acme/tiny-model/resolve/main/config.json`;
    const none = await fetch(url);
    expect([none.status, none.headers.get("x-error-message"), none.headers.get("x-error-code")]).toEqual([401, "Invalid credentials in Authorization header", null]);
    expect((await fetch(url, { headers: { authorization: "Bearer hf_wrong" } })).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await fetch(`${m.url}/api/v1/models/acme/ms-model/revisions`, { headers: { cookie: `m_session_id=${token}` } })).status).toBe(200);
    const blob = await downloadFile({ repo: "acme/tiny-model", path: "config.json", hubUrl: m.url, accessToken: token });
    expect(await blob!.text()).toBe('{"a":1}\n');
    expect(JSON.stringify(m.events)).not.toContain(token);
  });
});

describe("serve: load", () => {
  it("serves 32 concurrent clients the same big file, every copy intact", async () => {
    const m = await mirrorOf(filled);
    const want = file(hf, "model.safetensors").sha256;
    const got = await Promise.all(
      Array.from({ length: 32 }, async () => sha256(new Uint8Array(await (await fetch(`${m.url}/acme/tiny-model/resolve/main/model.safetensors`)).arrayBuffer()))),
    );
    expect(new Set(got)).toEqual(new Set([want]));
  });
});

describe("serve: --lockfile", () => {
  it("serves exactly the pinned revisions: dev and unpinned repos are unknown", async () => {
    const dir = await tempDir();
    const lockPath = join(dir, "models.lock.json");
    const { entryFromSnapshot, serializeLock } = await import("../../src/lockfile/index.ts");
    const snapshot = { revision: "main", commit: main(), files: hf.commits[0]!.files.map((f) => ({ path: f.path, size: f.size, url: "", ...(f.lfs ? { sha256: f.sha256 } : { gitSha1: f.gitOid }) })) };
    await writeFile(lockPath, serializeLock({ lockfileVersion: 1, models: [entryFromSnapshot(hfModel("acme/tiny-model"), snapshot)] }));
    const m = await mirrorOf(filled, { lockfile: lockPath });
    const status = async (path: string) => {
      const res = await fetch(m.url + path);
      return [res.status, res.headers.get("x-error-code")];
    };
    expect(await status(`/acme/tiny-model/resolve/main/config.json`)).toEqual([200, null]);
    expect(await status(`/acme/tiny-model/resolve/${main()}/config.json`)).toEqual([200, null]);
    expect(await status(`/acme/tiny-model/resolve/dev/config.json`)).toEqual([404, "RevisionNotFound"]);
    expect(await status(`/acme/tiny-model/resolve/${hf.refs.dev}/config.json`)).toEqual([404, "RevisionNotFound"]);
    expect((await fetch(`${m.url}/api/v1/models/acme/ms-model/revisions`)).status).toBe(404);
  });
});

describe("serve: pull-through", () => {
  it("fetches a miss from upstream once, verified and stored, never forwarding the client's Authorization", async () => {
    const r = hfRepo();
    const up = await startLocalHub({ repos: [r] });
    const root = await tempDir();
    try {
      const m = await mirrorOf(root, { upstream: { huggingface: up.url }, env: {} });
      const want = file(r, "model.safetensors");
      const url = `${m.url}/acme/tiny-model/resolve/main/model.safetensors`;
      const head = await fetch(url, { method: "HEAD" });
      expect([head.status, head.headers.get("x-repo-commit"), head.headers.get("x-linked-size")]).toEqual([200, r.refs.main, String(want.size)]);
      expect(head.headers.get("etag")).toBe(`"${want.sha256}"`);
      // HEAD answers from the upstream listing, without waiting for the bytes.
      expect(up.bytesServed).toBe(0);
      // Eight clients at once: one upstream download between them.
      const copies = await Promise.all(Array.from({ length: 8 }, async () => sha256(new Uint8Array(await (await fetch(url, { headers: { authorization: "Bearer hf_client_secret" } })).arrayBuffer()))));
      expect(new Set(copies)).toEqual(new Set([want.sha256]));
      const bodyBytes = up.bytesServed;
      expect(bodyBytes).toBeGreaterThanOrEqual(want.size);
      expect(bodyBytes).toBeLessThan(2 * want.size);
      expect(up.requests.every((q) => q.authorization === undefined)).toBe(true);
      // Stored as the CLI stores it: the next request is served from disk.
      expect(sha256(await readFile(join(root, "huggingface", "hub", HF, "snapshots", r.refs.main!, "model.safetensors")))).toBe(want.sha256);
      up.resetStats();
      const again = await fetch(url);
      expect(sha256(new Uint8Array(await again.arrayBuffer()))).toBe(want.sha256);
      expect(up.bytesServed).toBe(0);
      // @huggingface/hub through the pull-through mirror.
      const blob = await downloadFile({ repo: "acme/tiny-model", path: "config.json", hubUrl: m.url });
      expect(await blob!.text()).toBe('{"a":1}\n');
      expect(m.events.some((e) => e.type === "upstream")).toBe(true);
    } finally {
      await up.close();
    }
  });

  it("ModelScope: this tool fills a store through a pull-through mirror, which keeps the files", async () => {
    const r = msRepo();
    const up = await startLocalHub({ repos: [r] });
    const mirrorRoot = await tempDir();
    try {
      const m = await mirrorOf(mirrorRoot, { upstream: { modelscope: up.url } });
      const client = await tempDir();
      const summary = await download({ url: m.url } as LocalHub, client, [msModel("acme/ms-model")]);
      expect(summary.models.map((x) => x.error ?? x.status)).toEqual(["downloaded"]);
      for (const f of r.commits[0]!.files) {
        expect(sha256(await readFile(join(client, "modelscope", "models", "acme", "ms-model", f.path))), f.path).toBe(f.sha256);
        expect(sha256(await readFile(join(mirrorRoot, "modelscope", "models", "acme", "ms-model", f.path))), f.path).toBe(f.sha256);
      }
      // A second client is served from the mirror's store alone.
      up.resetStats();
      const again = await download({ url: m.url } as LocalHub, await tempDir(), [msModel("acme/ms-model")]);
      expect(again.failed).toBe(0);
      expect(up.bytesServed).toBe(0);
    } finally {
      await up.close();
    }
  });

  it("passes gated answers through unless the operator allows the server's token; upstream down is 504", async () => {
    const r = makeGated();
    const up = await startLocalHub({ repos: [r] });
    const root = await tempDir();
    try {
      const anon = await mirrorOf(root, { upstream: { huggingface: up.url }, env: { HF_TOKEN: "hf_local_test_token" } });
      const refused = await fetch(`${anon.url}/acme/gated/resolve/main/config.json`);
      expect([401, 403]).toContain(refused.status);
      expect(up.requests.every((q) => q.authorization === undefined)).toBe(true);
      await anon.close();
      const allowed = await mirrorOf(root, { upstream: { huggingface: up.url }, allowPrivate: true, env: { HF_TOKEN: "hf_local_test_token" } });
      const ok = await fetch(`${allowed.url}/acme/gated/resolve/main/config.json`);
      expect([ok.status, await ok.text()]).toEqual([200, "{}\n"]);
    } finally {
      await up.close();
    }
    const down = await mirrorOf(await tempDir(), { upstream: { huggingface: up.url } });
    const res = await fetch(`${down.url}/acme/other/resolve/main/config.json`);
    expect(res.status).toBe(504);
  });
});

function makeGated(): HubRepo {
  return makeRepo({ id: "acme/gated", access: "gated", files: [{ path: "config.json", text: "{}\n" }] });
}
