import { describe, expect, it } from "vitest";
import { consumerEnv, resolveRoots, rootFor } from "../../src/store/roots.ts";
import { RootError } from "../../src/errors.ts";

const home = { HOME: "/home/u" };
const dirs = (...existing: string[]) => (p: string) => existing.includes(p);

describe("resolveRoots", () => {
  it("--root puts HF under DIR/huggingface/hub and ModelScope under DIR/modelscope", () => {
    const r = resolveRoots({ root: "/data/store", env: { ...home, HF_HOME: "/ignored", RUNPOD_POD_ID: "x" } });
    expect(r.huggingface).toBe("/data/store/huggingface/hub");
    expect(r.modelscope).toBe("/data/store/modelscope");
    expect(r.why.huggingface).toContain("--root");
    expect(consumerEnv(r).vars).toEqual({ HF_HUB_CACHE: "/data/store/huggingface/hub", HF_HUB_OFFLINE: "1", MODELSCOPE_CACHE: "/data/store/modelscope" });
    expect(consumerEnv(r, { modelscope: true }).lines[0]).toBe("export MODELSCOPE_CACHE=/data/store/modelscope");
  });

  it("honours HF_HUB_CACHE, then HUGGINGFACE_HUB_CACHE, then HF_HOME", () => {
    expect(resolveRoots({ env: { ...home, HF_HUB_CACHE: "/c/hub2", HF_HOME: "/h" } }).huggingface).toBe("/c/hub2");
    expect(resolveRoots({ env: { ...home, HUGGINGFACE_HUB_CACHE: "/c/legacy", HF_HOME: "/h" } }).huggingface).toBe("/c/legacy");
    expect(resolveRoots({ env: { ...home, HF_HOME: "/h" } }).huggingface).toBe("/h/hub");
    expect(consumerEnv(resolveRoots({ env: { ...home, HF_HUB_CACHE: "/c/cache" } })).vars.HF_HUB_CACHE).toBe("/c/cache");
  });

  it("uses the network volume of a Pod and names the serverless mount for consumers", () => {
    const r = resolveRoots({ env: { ...home, RUNPOD_POD_ID: "p1", RUNPOD_VOLUME_ID: "v1" }, isDir: dirs("/workspace") });
    expect(r.huggingface).toBe("/workspace/models/huggingface/hub");
    expect(r.modelscope).toBe("/workspace/models/modelscope");
    expect(r.volume).toEqual({ path: "/workspace", kind: "pod" });
    const lines = consumerEnv(r).lines.join("\n");
    expect(lines).toContain("export HF_HUB_CACHE=/workspace/models/huggingface/hub");
    expect(lines).toContain("HF_HUB_CACHE=/runpod-volume/models/huggingface/hub");
    expect(lines).toContain("export MODELSCOPE_CACHE=/workspace/models/modelscope");
    expect(lines).toContain("MODELSCOPE_CACHE=/runpod-volume/models/modelscope");
  });

  it("uses /runpod-volume in a serverless worker", () => {
    const r = resolveRoots({ env: { ...home, RUNPOD_ENDPOINT_ID: "e1" }, isDir: dirs("/runpod-volume") });
    expect(r.huggingface).toBe("/runpod-volume/models/huggingface/hub");
    expect(consumerEnv(r).lines.join("\n")).toContain("/workspace/models/huggingface");
    expect(r.modelscope).toBe("/runpod-volume/models/modelscope");
  });

  it("refuses a Pod without a network volume, explaining why and what to do", () => {
    const r = resolveRoots({ env: { ...home, RUNPOD_POD_ID: "p1" }, isDir: dirs("/workspace") });
    expect(() => rootFor(r, "huggingface")).toThrow(RootError);
    expect(() => rootFor(r, "huggingface")).toThrow(/no network volume.*deleted with the Pod[\s\S]*--root/);
    // an explicit cache env var is a deliberate choice and still works
    expect(resolveRoots({ env: { ...home, RUNPOD_POD_ID: "p1", HF_HOME: "/x" } }).huggingface).toBe("/x/hub");
  });

  it("ignores a bare /workspace directory outside RunPod (pytorch images have WORKDIR /workspace)", () => {
    const r = resolveRoots({ env: { ...home }, isDir: dirs("/workspace", "/runpod-volume") });
    expect(r.huggingface).toBe("/home/u/.cache/huggingface/hub");
    expect(r.modelscope).toBe("/home/u/.cache/modelscope/hub");
    expect(resolveRoots({ env: { ...home, XDG_CACHE_HOME: "/xdg" } }).huggingface).toBe("/xdg/huggingface/hub");
  });
});
