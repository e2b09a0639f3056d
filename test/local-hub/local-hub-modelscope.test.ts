import { createHash } from "node:crypto";
import { buffer } from "node:stream/consumers";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  makeRepo,
  msFileRevision,
  REF_BASE_TIME,
  startLocalHub,
  type HubRepo,
  type LocalHub,
} from "@download-models/local-hub";

const GOOD = "ms_good";
const MiB = 1024 * 1024;

const speech = makeRepo({
  source: "modelscope",
  id: "damo/speech_model.v2",
  files: [
    { path: ".gitattributes", text: "*.bin filter=lfs\n" },
    { path: "configuration.json", text: '{"task":"asr"}' },
    { path: "README.md", text: "# speech\n" },
    { path: "model.bin", size: 2 * MiB + 7 },
    { path: "am/am.mvn", size: 10_000 },
    { path: "am/sub/units.txt", text: "a\nb\n" },
    { path: "docs/read me+1.txt", text: "spaces and plus" },
  ],
  tags: ["v1.0.0", "v1.1.0"],
  extraBranches: {
    dev: [
      { path: "configuration.json", text: '{"task":"asr-dev"}' },
      { path: "README.md", text: "# speech\n" },
    ],
  },
});
const secret = makeRepo({ source: "modelscope", id: "acme/secret", access: "private", files: [{ path: "a.txt", text: "a" }] });
const empty = makeRepo({ source: "modelscope", id: "acme/empty", files: [] });
const hf = makeRepo({ id: "acme/hf-only", files: [{ path: "a.txt", text: "a" }] });

function fileOf(repo: HubRepo, ref: string, path: string) {
  const file = repo.commits.find((c) => c.sha === repo.refs[ref])?.files.find((f) => f.path === path);
  if (!file) throw new Error(`no ${path} at ${ref}`);
  return file;
}

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

// Python's quote_plus: what the ModelScope clients put in `Revision=` and `FilePath=`.
const quotePlus = (text: string) => encodeURIComponent(text).replace(/%20/g, "+");

let hub: LocalHub;

beforeAll(async () => {
  hub = await startLocalHub({ repos: [speech, secret, empty, hf], tokens: [GOOD] });
});
afterAll(() => hub.close());
beforeEach(() => hub.resetStats());

const api = (path: string) => `${hub.url}/api/v1/models/${path}`;

async function call(url: string, init: RequestInit = {}) {
  const res = await fetch(url, { redirect: "manual", ...init });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body, json: () => JSON.parse(body.toString("utf8")) as Record<string, unknown> };
}

async function data<T = Record<string, unknown>>(url: string, init: RequestInit = {}): Promise<T> {
  const res = await call(url, init);
  expect(res.status).toBe(200);
  const envelope = res.json();
  expect(envelope).toMatchObject({ Code: 200, Message: "success", Success: true });
  return envelope["Data"] as T;
}

interface Entry {
  Path: string;
  Name: string;
  Type: "blob" | "tree";
  Revision: string;
  Sha256: string | null;
  Size: number;
}

describe("makeRepo for ModelScope", () => {
  it("uses master as the default branch and dates every ref", () => {
    expect(speech.source).toBe("modelscope");
    expect(speech.refs["master"]).toMatch(/^[0-9a-f]{40}$/);
    expect(speech.refs["main"]).toBeUndefined();
    expect(speech.refs["v1.0.0"]).toBe(speech.refs["master"]);
    expect(speech.refs["dev"]).not.toBe(speech.refs["master"]);
    expect(speech.createdAt?.["master"]).toBe(REF_BASE_TIME);
    expect(hf.source).toBe("huggingface");
    expect(hf.refs["main"]).toMatch(/^[0-9a-f]{40}$/);
  });

  it("gives a file the same Revision wherever its content is the same", () => {
    const readme = (ref: string) => msFileRevision(speech.id, fileOf(speech, ref, "README.md"));
    const config = (ref: string) => msFileRevision(speech.id, fileOf(speech, ref, "configuration.json"));
    expect(readme("master")).toMatch(/^[0-9a-f]{40}$/);
    expect(readme("dev")).toBe(readme("master"));
    expect(config("dev")).not.toBe(config("master"));
  });
});

describe("model info and revisions", () => {
  it("wraps model info in the envelope, for dotted names too", async () => {
    const res = await call(api("damo/speech_model.v2"));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    const envelope = res.json();
    expect(Object.keys(envelope).sort()).toEqual(["Code", "Data", "Message", "RequestId", "Success"]);
    expect(envelope["RequestId"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(envelope["Data"]).toMatchObject({ Id: expect.any(Number), Name: "speech_model.v2", Path: "damo" });
  });

  it("lists branches (master first) and tags newest first, each with CreatedAt", async () => {
    const { RevisionMap } = await data<{ RevisionMap: { Branches: unknown[]; Tags: unknown[] } }>(api("damo/speech_model.v2/revisions"));
    expect(RevisionMap.Branches).toEqual([
      { Revision: "master", CreatedAt: REF_BASE_TIME },
      { Revision: "dev", CreatedAt: expect.any(Number) },
    ]);
    expect(RevisionMap.Tags).toEqual([
      { Revision: "v1.1.0", CreatedAt: REF_BASE_TIME + 2 * 3600 },
      { Revision: "v1.0.0", CreatedAt: REF_BASE_TIME + 3600 },
    ]);
  });

  it("keeps the two hubs apart", async () => {
    expect((await call(api("acme/hf-only"))).status).toBe(404);
    expect((await call(`${hub.url}/api/models/damo/speech_model.v2/revision/master`)).status).toBe(401);
  });
});

describe("repo/files", () => {
  const files = (query: string) => data<{ Files: Entry[] }>(api(`damo/speech_model.v2/repo/files?${query}`)).then((d) => d.Files);

  it("lists every file and directory recursively with the ModelScope fields", async () => {
    const listing = await files("Revision=master&Recursive=True");
    expect(listing.map((e) => [e.Type, e.Path])).toEqual([
      ["blob", ".gitattributes"],
      ["blob", "README.md"],
      ["tree", "am"],
      ["blob", "am/am.mvn"],
      ["tree", "am/sub"],
      ["blob", "am/sub/units.txt"],
      ["blob", "configuration.json"],
      ["tree", "docs"],
      ["blob", "docs/read me+1.txt"],
      ["blob", "model.bin"],
    ]);
    const mvn = fileOf(speech, "master", "am/am.mvn");
    expect(listing.find((e) => e.Path === "am/am.mvn")).toEqual({
      CommitMessage: expect.any(String),
      CommittedDate: expect.any(Number),
      CommitterName: expect.any(String),
      InCheck: false,
      IsLFS: false,
      Mode: "33188",
      Name: "am.mvn",
      Path: "am/am.mvn",
      Revision: msFileRevision(speech.id, mvn),
      Sha256: mvn.sha256,
      Size: 10_000,
      Type: "blob",
    });
    expect(sha256(await buffer(mvn.read(0, mvn.size)))).toBe(mvn.sha256);
    expect(listing.find((e) => e.Path === "model.bin")).toMatchObject({ IsLFS: true, Size: 2 * MiB + 7 });
    expect(listing.find((e) => e.Path === "am/sub")).toMatchObject({ Type: "tree", Name: "sub", Size: 0, Sha256: null });
    for (const entry of listing) expect(entry.Revision).toMatch(/^[0-9a-f]{40}$/);
  });

  it("lists only the top level unless Recursive=True, and only Root's content with Root", async () => {
    expect((await files("Revision=master")).map((e) => e.Path)).toEqual([
      ".gitattributes", "README.md", "am", "configuration.json", "docs", "model.bin",
    ]);
    expect((await files("Revision=master&Recursive=True&Root=am")).map((e) => e.Path)).toEqual(["am/am.mvn", "am/sub", "am/sub/units.txt"]);
    expect(await files("Revision=master&Recursive=True&Root=nope")).toEqual([]);
  });

  it("serves tags, branches and an empty model", async () => {
    const tagged = await files("Revision=v1.0.0&Recursive=True");
    expect(tagged).toEqual(await files("Revision=master&Recursive=True"));
    const dev = await files("Revision=dev&Recursive=True");
    expect(dev.map((e) => e.Path)).toEqual(["README.md", "configuration.json"]);
    expect(dev[0]?.Revision).toBe(tagged.find((e) => e.Path === "README.md")?.Revision);
    expect(await data(api("acme/empty/repo/files?Revision=master&Recursive=True"))).toEqual({ Files: [] });
  });

  it("answers an unknown revision with HTTP 200 and Code != 200", async () => {
    for (const url of [api("damo/speech_model.v2/repo/files?Revision=v9&Recursive=True"), api("damo/speech_model.v2/repo?Revision=v9&FilePath=README.md")]) {
      const res = await call(url);
      expect(res.status).toBe(200);
      const envelope = res.json();
      expect(envelope).toMatchObject({ Success: false, Message: "Revision v9 not found", Data: null });
      expect(envelope["Code"]).not.toBe(200);
    }
  });
});

describe("access", () => {
  it("hides private and unknown models behind a 404 envelope", async () => {
    const missing = await call(api("acme/nope/revisions"));
    expect(missing.status).toBe(404);
    expect(missing.json()).toMatchObject({ Code: 10010205, Success: false, Data: null, Message: "The request model: acme/nope does not exist!" });

    const attempts: Record<string, string>[] = [{}, { cookie: "m_session_id=wrong" }, { authorization: "Bearer wrong" }];
    for (const headers of attempts) {
      const res = await call(api("acme/secret/revisions"), { headers });
      expect(res.status).toBe(404);
      expect(res.json()).toMatchObject({ Code: 10010205, Success: false, Data: null });
    }
  });

  it("accepts the token as m_session_id cookie or as bearer", async () => {
    await data(api("acme/secret/revisions"), { headers: { cookie: `lang=en; m_session_id=${GOOD}` } });
    await data(api("acme/secret/repo/files?Revision=master"), { headers: { authorization: `Bearer ${GOOD}` } });
    const file = await call(api("acme/secret/repo?Revision=master&FilePath=a.txt"), { headers: { cookie: `m_session_id=${GOOD}` } });
    expect(file.body.toString()).toBe("a");
    expect(hub.requests.map((r) => [r.cookie, r.authorization])).toEqual([
      [`lang=en; m_session_id=${GOOD}`, undefined],
      [undefined, `Bearer ${GOOD}`],
      [`m_session_id=${GOOD}`, undefined],
    ]);
  });
});

describe("repo (file download)", () => {
  const fileUrl = (path: string, revision = "master") =>
    api(`damo/speech_model.v2/repo?Revision=${quotePlus(revision)}&FilePath=${quotePlus(path)}`);

  it("redirects big files to the CDN, which honours Range and sees no credentials", async () => {
    const big = fileOf(speech, "master", "model.bin");
    const credentials = { cookie: `m_session_id=${GOOD}`, authorization: `Bearer ${GOOD}` };
    const head = await call(fileUrl("model.bin"), { method: "HEAD", headers: credentials });
    expect(head.status).toBe(302);
    const res = await call(fileUrl("model.bin"), { headers: { ...credentials, range: "bytes=0-" } });
    expect(res.status).toBe(302);
    const location = res.headers.get("location") ?? "";
    expect(location.startsWith(`${hub.cdnUrl}/cdn/${big.sha256}?`)).toBe(true);

    const part = await call(location, { headers: { range: `bytes=${MiB}-` } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe(`bytes ${MiB}-${big.size - 1}/${big.size}`);
    const whole = await call(location);
    expect(sha256(whole.body)).toBe(big.sha256);
    expect(part.body.equals(whole.body.subarray(MiB))).toBe(true);

    expect(hub.requests.map((r) => [r.server, r.status, r.cookie, r.authorization])).toEqual([
      ["hub", 302, credentials.cookie, credentials.authorization],
      ["hub", 302, credentials.cookie, credentials.authorization],
      ["cdn", 206, undefined, undefined],
      ["cdn", 200, undefined, undefined],
    ]);
  });

  it("serves small files directly, with Range, quote_plus-decoded paths and any revision", async () => {
    const doc = fileOf(speech, "master", "docs/read me+1.txt");
    const res = await call(fileUrl("docs/read me+1.txt"));
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe("spaces and plus");
    expect(sha256(res.body)).toBe(doc.sha256);

    const part = await call(fileUrl("docs/read me+1.txt", "v1.1.0"), { headers: { range: "bytes=7-9" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe(`bytes 7-9/${doc.size}`);
    expect(part.body.toString()).toBe("and");

    expect((await call(fileUrl("configuration.json", "dev"))).body.toString()).toBe('{"task":"asr-dev"}');
    expect((await call(fileUrl("README.md"), { method: "HEAD" })).headers.get("content-length")).toBe("9");
    expect(hub.requests.every((r) => r.server === "hub")).toBe(true);
  });

  it("answers an unknown path with a 404 envelope and a missing FilePath with 400", async () => {
    const missing = await call(fileUrl("nope.txt"));
    expect(missing.status).toBe(404);
    expect(missing.json()).toMatchObject({ Success: false, Data: null });
    expect(missing.json()["Code"]).not.toBe(200);
    expect((await call(api("damo/speech_model.v2/repo?Revision=master"))).status).toBe(400);
  });
});
