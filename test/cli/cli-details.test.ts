import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { makeRepo } from "@download-models/local-hub";
import { hub } from "../helpers/hub.ts";
import { runMain } from "../helpers/cli.ts";
import { KEYS, localS3 } from "../helpers/s3.ts";
import { tempDir } from "../helpers/tmp.ts";

const hf = (id: string) => makeRepo({ id, files: [{ path: "config.json", text: "{}\n" }] });
const ms = (id: string) => makeRepo({ source: "modelscope", id, files: [{ path: "configuration.json", text: "{}\n" }, { path: "model.pt", size: 2000 }] });

describe("small things the CLI says", () => {
  it("`help bogus` is an error that lists the commands; `help verfy` suggests verify", async () => {
    const bogus = await runMain(["help", "bogus"]);
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toMatch(/help bogus: no such command\. Commands: list, verify, .*lock/);
    expect(bogus.stdout).toBe("");
    const near = await runMain(["help", "verfy"]);
    expect(near.code).toBe(2);
    expect(near.stderr).toContain("did you mean `download-models help verify`?");
    expect((await runMain(["help", "verify"])).code).toBe(0);
  });

  it("verify takes --verbose, as the top help documents", async () => {
    const root = await tempDir();
    const r = await runMain(["verify", "--verbose", "--root", root]);
    expect(r.stderr).not.toContain("unknown option");
    expect(r.code).toBe(0);
  });

  it("--quiet omits the env block (and the pins); without it the block is there", async () => {
    const h = await hub({ repos: [hf("acme/a")] });
    const root = await tempDir();
    const env = { HF_ENDPOINT: h.url, HOME: root };
    const quiet = await runMain(["acme/a", "--root", root, "--quiet", "--force"], env);
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).toMatch(/Summary: 1 downloaded/);
    expect(quiet.stdout).not.toContain("export HF_HUB_CACHE");
    expect((await runMain(["acme/a", "--root", root], env)).stdout).toContain(`export HF_HUB_CACHE=${join(root, "huggingface", "hub")}`);
  });

  it("`image` downloads without printing the local cache's env block: it means nothing to an image user", { timeout: 60_000 }, async () => {
    const h = await hub({ repos: [hf("acme/a")] });
    const root = await tempDir();
    const r = await runMain(["image", "acme/a", "--root", root, "--output", `oci:${join(root, "layout")}:models`], { HF_ENDPOINT: h.url, HOME: root });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Image \S+@sha256:[0-9a-f]{64}: 1 model layer/m);
    expect(r.stdout + r.stderr).not.toContain("HF_HUB_CACHE");
    expect(r.stdout + r.stderr).not.toContain("Consumers load these models offline");
  });

  it("the --volume run's model line gives its speed as a formatted rate", { timeout: 60_000 }, async () => {
    const h = await hub({ repos: [hf("acme/tiny")] });
    const s3 = await localS3({ buckets: ["vol1"] });
    const home = await tempDir();
    const env = {
      HOME: home, XDG_CACHE_HOME: join(home, "cache"), HF_ENDPOINT: h.url,
      RUNPOD_S3_ACCESS_KEY_ID: KEYS.accessKeyId, RUNPOD_S3_SECRET_ACCESS_KEY: KEYS.secretAccessKey,
    };
    const r = await runMain(["acme/tiny", "--volume", "vol1@EU-RO-1", "--s3-endpoint", s3.url], env);
    expect(r.code, r.stderr).toBe(0);
    // 3 bytes take longer than 3 ms: a rate below 1 kB/s, once printed as "607.2296884330965 B/s"
    expect(r.stdout).toMatch(/^ {2}downloaded {2}huggingface {2}acme\/tiny@main .*; 3 B in \S+ s \((\d+ B\/s|-)\)$/m);
  });

  it("the volume summary gives the `download-models link` advice once, not per model", async () => {
    const h = await hub({ repos: [ms("damo/one"), ms("damo/two"), ms("damo/three.v2")] });
    const s3 = await localS3({ buckets: ["vol1"] });
    const home = await tempDir();
    const env = {
      HOME: home, XDG_CACHE_HOME: join(home, "cache"), MODELSCOPE_ENDPOINT: h.url,
      RUNPOD_S3_ACCESS_KEY_ID: KEYS.accessKeyId, RUNPOD_S3_SECRET_ACCESS_KEY: KEYS.secretAccessKey,
    };
    const r = await runMain(["ms:damo/one", "ms:damo/two", "ms:damo/three.v2", "--volume", "vol1@EU-RO-1", "--s3-endpoint", s3.url], env);
    expect(r.code).toBe(0);
    const count = (s: string) => r.stdout.split(s).length - 1;
    expect(count("run `download-models link` once")).toBe(1);
    expect(count("or without link:")).toBe(1);
    expect(count("    needs the link: modelscope 1.15–1.22 by id")).toBe(3);
    expect(r.stdout).toContain("no env alternative for a dotted name");
  });

  it("verify --volume names each bad object once, also when two declarations of a model share it", async () => {
    const repo = makeRepo({ id: "acme/t", files: [{ path: "config.json", text: "{}\n" }, { path: "w.bin", size: 3000 }] });
    const h = await hub({ repos: [repo] });
    const s3 = await localS3({ buckets: ["vol1"] });
    const home = await tempDir({ "projects/a.ts": `export default ${JSON.stringify({ name: "a", models: [{ id: "acme/t" }, { id: "acme/t", include: ["*.json"] }] })};` });
    const env = {
      HOME: home, XDG_CACHE_HOME: join(home, "cache"), HF_ENDPOINT: h.url,
      RUNPOD_S3_ACCESS_KEY_ID: KEYS.accessKeyId, RUNPOD_S3_SECRET_ACCESS_KEY: KEYS.secretAccessKey,
    };
    const V = ["--volume", "vol1@EU-RO-1", "--s3-endpoint", s3.url];
    expect((await runMain(["--all", "--projects-dir", join(home, "projects"), ...V], env)).code).toBe(0);
    await s3.store.deleteObject("vol1", `models/huggingface/hub/models--acme--t/snapshots/${repo.refs.main}/config.json`);
    const r = await runMain(["verify", ...V], env);
    expect(r.code).toBe(1);
    expect(r.stderr.split("config.json is missing")).toHaveLength(2);
    expect(r.stderr).toContain("BAD         huggingface:acme/t@main [include *.json] on vol1@EU-RO-1: 1 object");
    expect(r.stderr).toMatch(/BAD +huggingface:acme\/t@main on vol1@EU-RO-1: 1 object/);
    expect(r.stderr).toContain("(1 shared with a model above)");
    // --repair sends the shared object once too, and the hub serves it once.
    h.resetStats();
    s3.resetStats();
    const repair = await runMain(["verify", "--repair", ...V], env);
    expect(repair.code).toBe(0);
    const key = `models/huggingface/hub/models--acme--t/snapshots/${repo.refs.main}/config.json`;
    expect(s3.requests.filter((q) => q.operation === "PutObject" && !q.key.includes("/holders/")).map((q) => q.key)).toEqual([key]);
    expect(h.requests.filter((q) => q.method === "GET" && q.status === 200 && q.path.endsWith("/config.json"))).toHaveLength(1);
    expect((await runMain(["verify", ...V], env)).code).toBe(0);
  });
});
