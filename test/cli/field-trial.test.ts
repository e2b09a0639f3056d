import { describe, expect, it, onTestFinished } from "vitest";
import { createServer } from "node:http";
import { readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { makeRepo } from "@download-models/local-hub";
import { hub } from "../helpers/hub.ts";
import { runMain } from "../helpers/cli.ts";
import { tempDir } from "../helpers/tmp.ts";

const small = (id: string, extra: Parameters<typeof makeRepo>[0] extends infer O ? Partial<O> : never = {}) =>
  makeRepo({ id, files: [{ path: "config.json", text: "{}\n" }, { path: "model.safetensors", size: 30_000 }], ...extra });

/** A hub API that answers every request with the given status and headers, counting requests. */
async function stubHub(status: number, headers: Record<string, string>): Promise<{ url: string; count: () => number }> {
  let n = 0;
  const server = createServer((req, res) => {
    n++;
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify({ error: "slow down" }));
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  onTestFinished(() => new Promise<void>((done) => server.close(() => done())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, count: () => n };
}

describe("typos never become downloads", () => {
  it("help and help <command> show help; a near command name is refused with a suggestion and no request", async () => {
    const h = await hub({ repos: [small("acme/x")] });
    const env = { HF_ENDPOINT: h.url };
    const help = await runMain(["help"], env);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: download-models \[options\] \[command\] \[ids\.\.\.\]/);
    const helpList = await runMain(["help", "list"], env);
    expect(helpList.code).toBe(0);
    expect(helpList.stdout).toMatch(/^Usage: download-models list/);
    for (const typo of ["lst", "lsit", "verfy", "Path", "hlep"]) {
      const r = await runMain([typo], env);
      expect(r.code, typo).toBe(2);
      expect(r.stderr).toMatch(/is not a model id: did you mean `download-models (list|verify|path|help)`\?/);
    }
    expect(h.requests).toHaveLength(0);
    // a legacy slash-less HF id is still a model id: it goes to the hub (whose answer decides)
    const legacy = await stubHub(404, { "x-error-code": "RepoNotFound" });
    const gpt2 = await runMain(["gpt2", "--root", await tempDir()], { HF_ENDPOINT: legacy.url });
    expect(gpt2.stderr).toMatch(/gpt2 was not found on HuggingFace/);
    expect(legacy.count()).toBe(1);
  });
});

describe("selection flags say what they did", () => {
  it("an id swallowed by --project, --all with --project, a missing --projects-dir: exit 2 with the reason", async () => {
    const swallowed = await runMain(["--project", "tts", "org/x", "--dry-run"]);
    expect(swallowed.code).toBe(2);
    expect(swallowed.stderr).toMatch(/org\/x looks like a model id: .*put model ids before --project, or write --project=tts/);
    const both = await runMain(["--all", "--project", "tts", "--dry-run"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/either --all or --project NAME, not both/);
    const missing = await runMain(["--all", "--projects-dir", "/no/such/folder", "--dry-run"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--projects-dir /no/such/folder: no such folder");
  });

  it("options a command does not take are refused, and counts have a sane upper bound", async () => {
    expect((await runMain(["verify", "--connections", "3"])).code).toBe(2);
    const huge = await runMain(["org/x", "--connections", "99999"]);
    expect(huge.code).toBe(2);
    expect(huge.stderr).toMatch(/--connections` must be an integer from 1 to 256/);
  });
});

describe("bad roots and endpoints fail up front", () => {
  it("a root that is a file: exit 2 naming it, before any request", async () => {
    const h = await hub({ repos: [small("acme/x")] });
    const dir = await tempDir({ "a-file": "x" });
    const r = await runMain(["acme/x", "--root", join(dir, "a-file")], { HF_ENDPOINT: h.url });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/a-file is not a directory \(a file stands where a folder is needed\)/);
    expect(h.requests).toHaveLength(0);
  });

  it("HF_ENDPOINT that is not a URL: exit 2 naming the variable, at once", async () => {
    const t0 = Date.now();
    const r = await runMain(["acme/x", "--root", await tempDir()], { HF_ENDPOINT: "not a url" });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/HF_ENDPOINT="not a url" is not a URL/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it("URL userinfo of an endpoint is never printed (lines and JSON)", async () => {
    const h = await hub({ repos: [small("acme/x")] });
    const endpoint = h.url.replace("http://", "http://user:S3CRETpass@");
    for (const extra of [[], ["--json"]]) {
      const r = await runMain(["acme/x", "--root", await tempDir(), ...extra], { HF_ENDPOINT: endpoint });
      expect(r.stdout + r.stderr).not.toContain("S3CRETpass");
    }
  });
});

describe("waits are bounded and visible", () => {
  it("a Retry-After of an hour is not waited out: the model fails at once with the hub's wait and what to do", async () => {
    const stub = await stubHub(429, { "retry-after": "3600" });
    const t0 = Date.now();
    const r = await runMain(["acme/x", "--root", await tempDir()], { HF_ENDPOINT: stub.url });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/The hub asks to wait 3600 s before the next request, longer than this tool waits \(60 s\): run the same command again later/);
    expect(stub.count()).toBe(1);
  });

  it("each API retry wait is printed with its reason and attempt", async () => {
    const stub = await stubHub(503, {});
    const r = await runMain(["acme/x", "--root", await tempDir()], { HF_ENDPOINT: stub.url });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/acme\/x@main: HTTP 503: retrying in \d+\.\d s, attempt 2 of 4/);
    expect(r.stderr).toMatch(/attempt 4 of 4/);
    expect(stub.count()).toBe(4);
  });
});

describe("dry runs and small messages tell the truth", () => {
  it("a gated model without a token is not 'would get' in a dry run, and no env block is printed", async () => {
    const h = await hub({ repos: [small("acme/open"), small("acme/gated", { access: "gated" })] });
    const r = await runMain(["acme/open", "acme/gated", "--dry-run", "--root", await tempDir()], { HF_ENDPOINT: h.url });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/would get +huggingface +acme\/open@main/);
    expect(r.stderr).toMatch(/FAILED +huggingface +acme\/gated@main: acme\/gated is gated: accept its conditions/);
    expect(r.stdout).not.toContain("Consumers load these models offline");
  });

  it("an empty repo says so; a deleted snapshot link is relinked, not downloaded", async () => {
    const h = await hub({ repos: [makeRepo({ id: "acme/empty", files: [] }), small("acme/x")] });
    const root = await tempDir();
    const empty = await runMain(["acme/empty", "--root", root], { HF_ENDPOINT: h.url });
    expect(empty.stderr).toContain("acme/empty@main: the repo has no files at this revision");
    expect((await runMain(["acme/x", "--root", root], { HF_ENDPOINT: h.url })).code).toBe(0);
    const snap = join(root, "huggingface", "hub", "models--acme--x", "snapshots");
    const [commit] = await readdir(snap);
    await rm(join(snap, commit!, "config.json"));
    const again = await runMain(["acme/x", "--root", root], { HF_ENDPOINT: h.url });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/relinked +huggingface +acme\/x@main/);
    expect(again.stdout).toMatch(/Summary: 0 downloaded, 1 relinked, 0 skipped, 0 failed; 0 B downloaded/);
  });
});

describe("--local-dir and localDir", () => {
  it("puts the files as a plain folder with huggingface_hub's own records, verified; skips when complete; path prints the folder", async () => {
    const repo = small("acme/x");
    const h = await hub({ repos: [repo] });
    const dir = join(await tempDir(), "my-model");
    const env = { HF_ENDPOINT: h.url };
    const first = await runMain(["acme/x", "--local-dir", dir], env);
    expect(first.code).toBe(0);
    expect((await readdir(dir)).sort()).toEqual([".cache", "config.json", "model.safetensors"]);
    expect((await readdir(join(dir, ".cache"))).sort()).toEqual(["download-models", "huggingface"]);
    expect(await readdir(join(dir, ".cache", "download-models"))).toEqual(["manifests"]); // no empty temp folder left
    // What `hf download --local-dir` writes: without it huggingface_hub fetches the small files again online, and
    // offline snapshot_download(local_dir=…, revision=<commit>) fails.
    const hf = join(dir, ".cache", "huggingface");
    const commit = repo.refs.main!;
    expect(await readFile(join(hf, ".gitignore"), "utf8")).toBe("*");
    const tree = JSON.parse(await readFile(join(hf, "trees", `${commit}.json`), "utf8")) as { files: Record<string, unknown> };
    expect(Object.keys(tree.files).sort()).toEqual(["config.json", "model.safetensors"]);
    for (const f of repo.commits[0]!.files) {
      const [c, etag, at, end] = (await readFile(join(hf, "download", `${f.path}.metadata`), "utf8")).split("\n");
      expect([c, etag, end]).toEqual([commit, f.lfs ? f.sha256 : f.gitOid, ""]);
      expect(Number(at)).toBeGreaterThanOrEqual((await stat(join(dir, f.path))).mtimeMs / 1000 - 1);
    }
    // The closing lines speak of the folder, not of a cache.
    expect(first.stdout).toContain(`acme/x is the folder ${dir}: from_pretrained("${dir}"), or snapshot_download("acme/x", local_dir="${dir}", revision="${commit}")`);
    expect(first.stdout).not.toContain("HF_HUB_CACHE");
    h.resetStats();
    const again = await runMain(["acme/x", "--local-dir", dir], env);
    expect(again.stdout).toMatch(/skipped +huggingface +acme\/x@main/);
    expect(h.requests).toHaveLength(0);
    const path = await runMain(["path", "acme/x", "--local-dir", dir], env);
    expect(path.stdout.trim()).toBe(dir);
    const two = await runMain(["acme/x", "acme/y", "--local-dir", dir], env);
    expect(two.code).toBe(2);
    expect(two.stderr).toMatch(/--local-dir takes exactly one model id/);
  });

  it("refuses the filesystem root and a folder inside a HuggingFace cache, before any request", async () => {
    const h = await hub({ repos: [small("acme/x")] });
    const root = await tempDir();
    const env = { HF_ENDPOINT: h.url };
    expect((await runMain(["acme/x", "--root", root], env)).code).toBe(0);
    h.resetStats();
    const slash = await runMain(["acme/x", "--local-dir", "/"], env);
    expect(slash.code).toBe(2);
    expect(slash.stderr).toContain("--local-dir / for acme/x: not the filesystem root");
    const hubCache = join(root, "huggingface", "hub");
    for (const inside of [join(hubCache, "models--acme--x", "snapshots", "here"), join(hubCache, "mine")]) {
      const r = await runMain(["acme/x", "--local-dir", inside], env);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`--local-dir ${inside} for acme/x: it is inside the HuggingFace cache ${hubCache}`);
    }
    expect(h.requests).toHaveLength(0);
  });

  it("a project's localDir puts that model in its own folder", async () => {
    const h = await hub({ repos: [small("acme/x")] });
    const base = await tempDir();
    const projects = join(base, "projects");
    const { mkdir, writeFile } = await import("node:fs/promises");
    await mkdir(projects);
    // Relative to the project file, wherever the command runs.
    const target = join(base, "weights");
    await writeFile(join(projects, "p.ts"), `export default { name: "p", models: [{ id: "acme/x", localDir: "../weights" }] };\n`);
    const r = await runMain(["--project", "p", "--projects-dir", projects], { HF_ENDPOINT: h.url, HOME: base });
    expect(r.code).toBe(0);
    expect((await readdir(target)).sort()).toEqual([".cache", "config.json", "model.safetensors"]);
  });
});

describe("consumers of filtered models are told the patterns", () => {
  it("prints the snapshot_download call with the same patterns, and HF_HUB_CACHE (not HF_HOME)", async () => {
    const h = await hub({ repos: [small("acme/x")] });
    const root = await tempDir();
    const r = await runMain(["acme/x", "--include", "*.json", "--root", root], { HF_ENDPOINT: h.url });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`Note: acme/x holds only the files its filters select: offline, call snapshot_download("acme/x", allow_patterns=["*.json"]) with the same patterns`);
    expect(r.stdout).toContain(`export HF_HUB_CACHE=${root}/huggingface/hub`);
    expect(r.stdout).not.toContain("HF_HOME");
  });
});

describe("list", () => {
  it("says how many distinct models are complete on the root and how many a download would fetch", async () => {
    const h = await hub({ repos: [small("acme/x"), small("acme/y")] });
    const base = await tempDir();
    const projects = join(base, "projects");
    const { mkdir, writeFile } = await import("node:fs/promises");
    await mkdir(projects);
    await writeFile(join(projects, "p.ts"), `export default { name: "p", models: [{ id: "acme/x" }, { id: "acme/y" }] };\n`);
    const root = join(base, "root");
    expect((await runMain(["acme/x", "--root", root], { HF_ENDPOINT: h.url })).code).toBe(0);
    const list = await runMain(["list", "--projects-dir", projects, "--root", root], { HF_ENDPOINT: h.url });
    expect(list.stdout).toContain("1 project, 2 model declarations, 2 distinct models to download; 1 complete on disk, 1 would be downloaded");
  });
});

describe("project file syntax errors show where", () => {
  it("names file, line, column and the compiler's reason, without the 'it must export' suffix", async () => {
    const base = await tempDir({
      "projects/broken.ts": 'export default {\n  name: "x",\n  models: [\n    { id: "a/b" ]\n};\n',
      "projects/wrong.ts": "export const nothing = 1;\n",
    });
    const r = await runMain(["list", "--projects-dir", join(base, "projects")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/broken\.ts:4:16: Expected "}" but found "]"/);
    expect(r.stderr).not.toMatch(/broken\.ts.*it must/);
    expect(r.stderr).toMatch(/wrong\.ts: has no default export; it must `export default defineProject/);
  });
});

describe("--max-rate", () => {
  it("caps the whole run's bandwidth, says so in the opening and progress lines, and refuses nonsense", async () => {
    const h = await hub({ repos: [makeRepo({ id: "acme/big", files: [{ path: "model.safetensors", size: 3 * 1024 * 1024 }] })] });
    const t0 = Date.now();
    const r = await runMain(["acme/big", "--root", await tempDir(), "--max-rate", "1M"], { HF_ENDPOINT: h.url });
    const seconds = (Date.now() - t0) / 1000;
    expect(r.code).toBe(0);
    expect(seconds).toBeGreaterThan(1.5); // 3 MiB at 1 MiB/s: not faster than the cap allows (some burst is fine)
    expect(r.stdout).toMatch(/; bandwidth capped at 1M\/s/); // in the units it was given
    const bad = await runMain(["acme/big", "--max-rate", "fast"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--max-rate` is bytes per second with K, M or G/);
  });
});
