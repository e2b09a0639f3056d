import { describe, expect, it } from "vitest";
import { readFile, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import pLimit from "p-limit";
import { makeRepo } from "@download-models/local-hub";
import { builtinDownloaders, createRegistry } from "../../src/sources/registry.ts";
import { resolveRoots } from "../../src/store/roots.ts";
import { createDisk } from "../../src/util/path-safety.ts";
import { createRedactor } from "../../src/util/redact.ts";
import { SpaceReservations } from "../../src/download/space.ts";
import { createTransfer } from "../../src/transfer/index.ts";
import { planModel } from "../../src/download/plan.ts";
import { fetchModel } from "../../src/download/fetch.ts";
import { commitModel } from "../../src/download/commit.ts";
import type { FetchPlan, RunContext } from "../../src/download/context.ts";
import type { DownloadEvent, ModelResult } from "../../src/download/events.ts";
import { findComplete } from "../../src/store/manifest.ts";
import { download, hfModel, hub } from "../helpers/hub.ts";
import { tempDir } from "../helpers/tmp.ts";

const repo = () =>
  makeRepo({
    id: "acme/phases",
    files: [
      { path: "config.json", text: '{"a":1}\n' },
      { path: "model.safetensors", size: 200_000 },
    ],
  });

function context(root: string, env: Record<string, string>, events: DownloadEvent[]): RunContext {
  const disk = createDisk();
  const transfer = createTransfer({ attempts: 2, baseDelayMs: 5 }, { disk });
  return {
    registry: createRegistry(builtinDownloaders), roots: resolveRoots({ root, env }), env,
    force: false, dryRun: false, skipSpaceCheck: false,
    transfer, disk, redactor: createRedactor(),
    space: new SpaceReservations(transfer.options), hashing: pLimit(2), emit: (e) => events.push(e),
  };
}

/** Plan a model that is not complete on disk: a plan that fetches, or the test fails. */
async function planToFetch(...args: Parameters<typeof planModel>): Promise<FetchPlan> {
  const plan = await planModel(...args);
  if (plan.kind !== "fetch") throw new Error("expected a fetch plan");
  return plan;
}

const emptyResult = (): ModelResult => ({
  source: "huggingface", id: "acme/phases", revision: "main", status: "failed", files: 0, bytes: 0,
  downloadedBytes: 0, reusedFiles: 0, projects: [], seconds: 0,
});

describe("a model's three phases, each on its own", () => {
  it("plan resolves without writing; fetch puts verified files in place; only commit makes the model complete", async () => {
    const r = repo();
    const h = await hub({ repos: [r] });
    const root = await tempDir();
    const events: DownloadEvent[] = [];
    const run = context(root, { HF_ENDPOINT: h.url }, events);
    const signal = new AbortController().signal;
    const model = hfModel("acme/phases");
    try {
      const plan = await planModel(model, run, signal);
      expect(plan.kind).toBe("fetch");
      if (plan.kind !== "fetch") return;
      expect(plan.snapshot.commit).toBe(r.refs.main);
      expect(plan.files.map((f) => f.path).sort()).toEqual(["config.json", "model.safetensors"]);
      expect(plan.reused.size).toBe(0);
      expect(h.requests.filter((q) => q.path.includes("/resolve/") || q.server === "cdn")).toHaveLength(0); // planning downloads nothing

      await fetchModel({ plan, run, result: emptyResult(), signal });
      const snap = join(root, "huggingface", "hub", "models--acme--phases", "snapshots", r.refs.main!);
      expect(await readFile(join(snap, "config.json"), "utf8")).toBe('{"a":1}\n');
      expect(await findComplete(plan.store, model)).toBeUndefined(); // no manifest yet: not complete

      await commitModel(plan, run, (missing) => fetchModel({ plan: { ...plan, files: missing, reused: new Set() }, run, result: emptyResult(), signal }));
      await plan.hold?.release();
      expect((await findComplete(plan.store, model))?.commit).toBe(r.refs.main);
      const again = await planModel(model, run, signal);
      expect(again.kind).toBe("skip");
    } finally {
      await run.transfer.close();
    }
  });

  it("plan finds what is reusable on disk, a blob folder that was removed included", async () => {
    const r = makeRepo({
      id: "acme/phases",
      files: [
        { path: "config.json", text: '{"a":1}\n' },
        { path: "model.safetensors", size: 200_000 },
        { path: "tokenizer/vocab.txt", text: "a\nb\n" },
      ],
    });
    const h = await hub({ repos: [r] });
    const root = await tempDir();
    const run = context(root, { HF_ENDPOINT: h.url }, []);
    const signal = new AbortController().signal;
    const model = hfModel("acme/phases");
    try {
      const first = await planToFetch(model, run, signal);
      await fetchModel({ plan: first, run, result: emptyResult(), signal });
      await first.hold?.release();
      // Fetched but never committed (as after a kill): two blobs on disk, one gone.
      const weights = first.files.find((f) => f.path === "model.safetensors")!;
      await rm(first.store.blobPath(weights));
      const again = await planToFetch(model, run, signal);
      await again.hold?.release();
      expect([...again.reused].map((f) => f.path).sort()).toEqual(["config.json", "tokenizer/vocab.txt"]);

      await rm(dirname(first.store.blobPath(weights)), { recursive: true });
      const bare = await planToFetch(model, run, signal);
      await bare.hold?.release();
      expect(bare.reused.size).toBe(0);
    } finally {
      await run.transfer.close();
    }
  });

  it("commit fetches again a file removed after it was fetched, and never writes a manifest naming a missing file", async () => {
    const r = repo();
    const h = await hub({ repos: [r] });
    const root = await tempDir();
    const run = context(root, { HF_ENDPOINT: h.url }, []);
    const signal = new AbortController().signal;
    const model = hfModel("acme/phases");
    try {
      const plan = await planToFetch(model, run, signal);
      await fetchModel({ plan, run, result: emptyResult(), signal });
      // What a prune that ignores the model's lease did to the user: the blob goes between its link and the manifest.
      const weights = plan.files.find((f) => f.path === "model.safetensors")!;
      await rm(plan.store.blobPath(weights));
      const refetched: string[] = [];
      await commitModel(plan, run, async (missing) => {
        refetched.push(...missing.map((f) => f.path));
        await fetchModel({ plan: { ...plan, files: missing, reused: new Set() }, run, result: emptyResult(), signal });
      });
      await plan.hold?.release();
      expect(refetched).toEqual(["model.safetensors"]);
      expect(await findComplete(plan.store, model)).toBeDefined();
      expect((await readFile(join(plan.store.snapshotDir(r.refs.main!), "model.safetensors"))).length).toBe(200_000);

      // Removed every time it is fetched: the model fails, and no manifest claims it.
      const again = await planToFetch(hfModel("acme/phases", { revision: r.refs.main! }), run, signal);
      await rm(again.store.blobPath(weights));
      const failing = commitModel(again, run, async (missing) => {
        await fetchModel({ plan: { ...again, files: missing, reused: new Set() }, run, result: emptyResult(), signal });
        await rm(again.store.blobPath(weights));
      });
      await expect(failing).rejects.toThrow(/model\.safetensors of acme\/phases@[0-9a-f]{40} .*went missing from disk/);
      await again.hold?.release();
      expect(await findComplete(again.store, hfModel("acme/phases", { revision: r.refs.main! }))).toBeUndefined();
    } finally {
      await run.transfer.close();
    }
  });

  it("state belongs to the run: a long-lived process whose cache was deleted downloads again", async () => {
    const r = repo();
    const h = await hub({ repos: [r] });
    const root = await tempDir();
    const first = await download(h, root, [hfModel("acme/phases")]);
    expect(first.downloaded).toBe(1);
    await rm(join(root, "huggingface"), { recursive: true, force: true });
    const second = await download(h, root, [hfModel("acme/phases")]);
    expect(second.models[0]!.error).toBeUndefined();
    expect(second.downloaded).toBe(1);
    const snap = join(root, "huggingface", "hub", "models--acme--phases", "snapshots", r.refs.main!);
    expect(await readFile(join(snap, "config.json"), "utf8")).toBe('{"a":1}\n');
  });
});
