import { describe, expect, it } from "vitest";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { corruptFile, DEFAULT_TOKEN, makeRepo } from "@download-models/local-hub";
import { modelscopeEndpoint, quotePlus } from "../../src/sources/modelscope/api.ts";
import { download, hub, msModel } from "../helpers/hub.ts";
import { tempDir } from "../helpers/tmp.ts";

const files = [
  { path: "configuration.json", text: '{"task":"voice-activity-detection"}\n' },
  { path: "model.pt", size: 2 * 1024 * 1024 },
  { path: "dir with space/am+mvn.txt", text: "mean 0\n" },
];

async function allFiles(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe("ModelScope protocol (spec ModelScope §2)", () => {
  it("picks the endpoint from MODELSCOPE_ENDPOINT, then MODELSCOPE_DOMAIN, then www.modelscope.cn", () => {
    expect(modelscopeEndpoint({})).toBe("https://www.modelscope.cn");
    expect(modelscopeEndpoint({ MODELSCOPE_DOMAIN: "www.modelscope.ai" })).toBe("https://www.modelscope.ai");
    expect(modelscopeEndpoint({ MODELSCOPE_DOMAIN: "www.modelscope.ai", MODELSCOPE_ENDPOINT: "http://127.0.0.1:9/" })).toBe("http://127.0.0.1:9");
    expect(quotePlus("dir with space/a+b(1).txt")).toBe("dir+with+space%2Fa%2Bb%281%29.txt");
  });

  it("asks revisions, one recursive listing, then /repo?Revision=&FilePath= per file (quote_plus encoded)", async () => {
    const h = await hub({ repos: [makeRepo({ source: "modelscope", id: "iic/vad.model", files })] });
    const root = await tempDir();
    const summary = await download(h, root, [msModel("iic/vad.model")]);
    expect(summary.models[0]?.error).toBeUndefined();
    const hubPaths = h.requests.filter((r) => r.server === "hub").map((r) => r.path);
    expect(hubPaths[0]).toBe("/api/v1/models/iic/vad.model/revisions");
    expect(hubPaths[1]).toBe("/api/v1/models/iic/vad.model/repo/files?Revision=master&Recursive=True");
    expect(hubPaths).toContain("/api/v1/models/iic/vad.model/repo?Revision=master&FilePath=dir+with+space%2Fam%2Bmvn.txt");
    expect(hubPaths).toHaveLength(5);
    // The big file went through the CDN redirect.
    expect(h.requests.some((r) => r.server === "cdn" && (r.status === 206 || r.status === 200))).toBe(true);
    const dir = join(root, "modelscope", "models", "iic", "vad___model");
    expect(await readFile(join(dir, "dir with space", "am+mvn.txt"), "utf8")).toBe("mean 0\n");
  });

  it("sends the token as cookie and bearer to the API host only, never to the CDN", async () => {
    const h = await hub({ repos: [makeRepo({ source: "modelscope", id: "iic/private-model", files, access: "private" })] });
    const root = await tempDir();
    const summary = await download(h, root, [msModel("iic/private-model")], { env: { MODELSCOPE_API_TOKEN: DEFAULT_TOKEN } });
    expect(summary.models[0]?.error).toBeUndefined();
    const hubReqs = h.requests.filter((r) => r.server === "hub");
    const cdnReqs = h.requests.filter((r) => r.server === "cdn");
    expect(cdnReqs.length).toBeGreaterThan(0);
    for (const r of hubReqs) {
      expect(r.cookie).toBe(`m_session_id=${DEFAULT_TOKEN}`);
      expect(r.authorization).toBe(`Bearer ${DEFAULT_TOKEN}`);
    }
    for (const r of cdnReqs) {
      expect(r.cookie).toBeUndefined();
      expect(r.authorization).toBeUndefined();
    }
  });

  it("explains a private or missing model: set MODELSCOPE_API_TOKEN, or maybe it is a HuggingFace model", async () => {
    const h = await hub({ repos: [makeRepo({ source: "modelscope", id: "iic/private-model", files, access: "private" })] });
    const root = await tempDir();
    const noToken = await download(h, root, [msModel("iic/private-model"), msModel("iic/no-such-model")]);
    expect(noToken.failed).toBe(2);
    for (const m of noToken.models) {
      expect(m.error).toMatch(/was not found on ModelScope, or it is private/);
      expect(m.error).toMatch(/set MODELSCOPE_API_TOKEN/);
      expect(m.error).toContain(`hf:${m.id}`);
      expect(m.error).toContain("--source huggingface");
    }
    const badToken = await download(h, root, [msModel("iic/private-model")], { env: { MODELSCOPE_API_TOKEN: "ms-wrong-token-123" } });
    expect(badToken.models[0]!.error).toMatch(/the token in use has no access/);
    expect(badToken.models[0]!.error).not.toContain("ms-wrong-token-123");
    expect(await readdir(root)).not.toContain("modelscope");
  });

  it("names a few existing revisions when the asked one does not exist", async () => {
    const h = await hub({ repos: [makeRepo({ source: "modelscope", id: "iic/tagged", files, tags: ["v1.0.0", "v1.0.1"] })] });
    const summary = await download(h, await tempDir(), [msModel("iic/tagged", { revision: "v9" })]);
    expect(summary.models[0]!.error).toMatch(/no branch or tag "v9" for iic\/tagged/);
    expect(summary.models[0]!.error).toMatch(/It has: master, v1\.0\.1, v1\.0\.0/);
    const byCommit = await download(h, await tempDir(), [msModel("iic/tagged", { revision: "0123456789abcdef0123456789abcdef01234567" })]);
    expect(byCommit.models[0]!.error).toMatch(/by branch or tag, not by commit id/);
  });

  it("fails on Code != 200 inside an HTTP 200, with the hub's message", async () => {
    const h = await hub({
      repos: [makeRepo({ source: "modelscope", id: "iic/flaky", files })],
      intercept: (req, res) => {
        if (!req.url?.includes("/repo/files")) return false;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ Code: 10010999, Data: null, Message: "model is under review", Success: false }));
        return true;
      },
    });
    const summary = await download(h, await tempDir(), [msModel("iic/flaky")]);
    expect(summary.models[0]!.error).toMatch(/ModelScope refused iic\/flaky@master: model is under review \(code 10010999\)/);
  });

  it("says so when the listing is empty", async () => {
    const h = await hub({ repos: [makeRepo({ source: "modelscope", id: "iic/empty", files: [] })] });
    const summary = await download(h, await tempDir(), [msModel("iic/empty")]);
    expect(summary.models[0]!.error).toMatch(/ModelScope lists no files for iic\/empty@master/);
  });

  it("verifies every file's Sha256: a corrupt file never gets its final name nor a .msc entry", async () => {
    const r = makeRepo({ source: "modelscope", id: "iic/corrupt", files });
    const commit = r.commits[0]!;
    commit.files = commit.files.map((f) => (f.path === "model.pt" ? corruptFile(f) : f));
    const h = await hub({ repos: [r] });
    const root = await tempDir();
    const summary = await download(h, root, [msModel("iic/corrupt")]);
    expect(summary.failed).toBe(1);
    expect(summary.models[0]!.error).toMatch(/model\.pt of iic\/corrupt@master.*sha256/s);
    const left = await allFiles(join(root, "modelscope"));
    expect(left.some((p) => p.endsWith("/model.pt"))).toBe(false);
    expect(left.some((p) => p.endsWith(".msc"))).toBe(false);
    expect(left.some((p) => p.includes(".download-models/") && p.endsWith(".json") && !p.includes("/temp/"))).toBe(false);
  });

  it("retries a 5xx from the API and still completes", async () => {
    let failures = 2;
    const h = await hub({
      repos: [makeRepo({ source: "modelscope", id: "iic/retry", files })],
      intercept: (req, res) => {
        if (!req.url?.endsWith("/revisions") || failures-- <= 0) return false;
        res.writeHead(503, { "content-type": "application/json", "retry-after": "0" });
        res.end(JSON.stringify({ Code: 503, Message: "busy", Success: false }));
        return true;
      },
    });
    const summary = await download(h, await tempDir(), [msModel("iic/retry")]);
    expect(summary.models[0]?.error).toBeUndefined();
    expect(h.requests.filter((r) => r.path.endsWith("/revisions"))).toHaveLength(3);
  });
});
