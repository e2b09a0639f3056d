import { describe, expect, it } from "vitest";
import { userCacheDir } from "../../src/util/index.ts";
import { resolveRoots } from "../../src/store/index.ts";
import { uploadStateDir } from "../../src/remote/index.ts";
import { stagingDir } from "../../src/cli/volume-run.ts";

// Every folder under the user cache (models, S3 staging, upload records) reads XDG_CACHE_HOME the same way.
describe("the user cache folder", () => {
  const env = { HOME: "/home/u", XDG_CACHE_HOME: "~/xdg" };

  it("expands ~ in XDG_CACHE_HOME for the model cache, the S3 staging and the upload records alike", () => {
    expect(userCacheDir(env)).toBe("/home/u/xdg");
    expect(resolveRoots({ env, isDir: () => false }).plain).toBe("/home/u/xdg/download-models");
    expect(stagingDir(env)).toBe("/home/u/xdg/download-models/staging");
    expect(uploadStateDir(env)).toBe("/home/u/xdg/download-models/s3-uploads");
  });

  it("ignores a relative XDG_CACHE_HOME and an empty one, as the XDG spec says", () => {
    expect(userCacheDir({ HOME: "/home/u", XDG_CACHE_HOME: "cache" })).toBe("/home/u/.cache");
    expect(userCacheDir({ HOME: "/home/u", XDG_CACHE_HOME: "" })).toBe("/home/u/.cache");
    expect(userCacheDir({ HOME: "/home/u", XDG_CACHE_HOME: "/var/cache/me" })).toBe("/var/cache/me");
  });
});
