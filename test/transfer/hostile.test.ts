import { describe, expect, it } from "vitest";
import { mkdir, readdir, symlink } from "node:fs/promises";
import { join } from "node:path";
import { makeRepo } from "@download-models/local-hub";
import { download, hfModel, hub } from "../helpers/hub.ts";
import { tempDir } from "../helpers/tmp.ts";

const file = (path: string, extra: object = {}) => ({ type: "file", oid: "a".repeat(40), size: 3, path, ...extra });

/** A hub whose tree listing for acme/evil is `entries`, whatever they are. */
async function evilHub(entries: unknown[] | string) {
  const r = makeRepo({ id: "acme/evil", files: [{ path: "config.json", text: "{}\n" }] });
  return hub({
    repos: [r],
    intercept(req, res) {
      if (!req.url?.includes("/api/models/acme/evil/tree/")) return false;
      res.writeHead(200, { "content-type": "application/json" }).end(typeof entries === "string" ? entries : JSON.stringify(entries));
      return true;
    },
  });
}

async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true }).catch(() => [] as string[])).sort();
}

describe("hostile input is refused with a clear error and nothing is written outside the root", () => {
  const cases: Array<[string, unknown[] | string, RegExp]> = [
    ["parent segments", [file("../../outside.txt")], /refusing listed file "\.\.\/\.\.\/outside\.txt": "\.\." path segment/],
    ["an absolute path", [file("/etc/passwd")], /refusing listed file "\/etc\/passwd": absolute path/],
    ["a backslash", [file("..\\..\\win.txt")], /refusing listed file .*: backslash in path/],
    ["a NUL byte", [file("a\u0000b")], /refusing listed file .*: NUL byte in path/],
    ["an empty name", [file("")], /refusing listed file "": empty path/],
    ["an overlong name", [file("x".repeat(300))], /path segment longer than 255 bytes/],
    ["a duplicate path", [file("a.json"), file("a.json")], /the listing names a\.json twice/],
    ["a path that is both file and folder", [file("a"), file("a/b")], /a is listed both as a file and as a folder/],
    ["malformed JSON", "[{not json", /tree listing that is not JSON/],
    ["JSON that is not a list", '{"error":"nope"}', /tree listing .* is not a list/],
    ["a negative size", [file("a.json", { size: -1 })], /a\.json has no valid size/],
  ];
  for (const [name, entries, message] of cases) {
    it(`refuses a listing with ${name}`, async () => {
      const h = await evilHub(entries);
      const base = await tempDir();
      const root = join(base, "root");
      const s = await download(h, root, [hfModel("acme/evil")]);
      expect(s.models[0]!.status).toBe("failed");
      expect(s.models[0]!.error).toMatch(message);
      expect(await tree(base)).toEqual([]); // nothing at all was written, inside or outside the root
      expect(h.requests.some((q) => q.path.includes("/resolve/"))).toBe(false);
    });
  }

  it("refuses an oversized listing without reading it all", async () => {
    const huge = `[${Array.from({ length: 720_000 }, (_, i) => JSON.stringify(file(`f${i}.json`, { oid: "b".repeat(40) }))).join(",")}]`;
    expect(huge.length).toBeGreaterThan(64 * 1024 * 1024);
    const h = await evilHub(huge);
    const s = await download(h, await tempDir(), [hfModel("acme/evil")]);
    expect(s.models[0]!.error).toMatch(/larger than 64 MiB; refusing it/);
  });

  it("refuses to write through a symlink inside the root that points outside it", async () => {
    const h = await hub({ repos: [makeRepo({ id: "acme/x", files: [{ path: "config.json", text: "{}\n" }] })] });
    const base = await tempDir();
    const root = join(base, "root");
    const outside = join(base, "outside");
    await mkdir(outside, { recursive: true });
    await mkdir(join(root, "huggingface", "hub", "models--acme--x"), { recursive: true });
    await symlink(outside, join(root, "huggingface", "hub", "models--acme--x", "blobs"));
    const s = await download(h, root, [hfModel("acme/x")]);
    expect(s.models[0]!.error).toMatch(/Refusing to write through .*models--acme--x\/blobs: it is a symbolic link to .*outside, outside .*root/);
    expect(await tree(outside)).toEqual([]);
  });
});
