import { describe, expect, it } from "vitest";
import { makeRepo } from "@download-models/local-hub";
import { hub } from "../helpers/hub.ts";
import { runMain } from "../helpers/cli.ts";
import { tempDir } from "../helpers/tmp.ts";
import { DiskSpaceError, errorKind, InterruptedError, NoMatchingFilesError } from "../../src/errors.ts";

describe("errors carry their kind", () => {
  it("a model whose filters match nothing fails with NoMatchingFilesError, and its result says so beside the message", async () => {
    const h = await hub({ repos: [makeRepo({ id: "acme/kinds", files: [{ path: "w.bin", size: 100 }] })] });
    const r = await runMain(["acme/kinds", "--include", "*.nothing", "--root", await tempDir(), "--json"], { HF_ENDPOINT: h.url });
    expect(r.code).toBe(1);
    const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { models: { status: string; error: string; errorKind: string }[] };
    expect(summary.models[0]).toMatchObject({ status: "failed", errorKind: "NoMatchingFilesError" });
    expect(summary.models[0]!.error).toMatch(/\*\.nothing/);
  });

  it("errorKind: the class name of our errors, the code of system errors", () => {
    expect(errorKind(new NoMatchingFilesError("x"))).toBe("NoMatchingFilesError");
    expect(errorKind(new DiskSpaceError("full", "/r", 1, 0))).toBe("DiskSpaceError");
    expect(errorKind(Object.assign(new Error("no space"), { code: "ENOSPC" }))).toBe("ENOSPC");
    expect(new InterruptedError("stop", "SIGTERM").exitCode).toBe(143);
  });
});
