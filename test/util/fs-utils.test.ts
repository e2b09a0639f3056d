import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { lstat, mkdir, readdir, utimes, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { removeCutShortWrites, symlinkAtomic, writeFileAtomic } from "../../src/util/fs-utils.ts";
import { tempDir } from "../helpers/tmp.ts";

const host = createHash("sha256").update(hostname()).digest("hex").slice(0, 8);
const exists = (p: string) => lstat(p).then(() => true, () => false);

/** A process of this machine that ran and is gone: its pid. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", "0"]);
  await new Promise((r) => child.on("exit", r));
  return child.pid!;
}

describe("writes a killed process cut short", () => {
  it("are named after their writer, and removed at once when it is a process of this machine that is gone", async () => {
    const dir = await tempDir();
    const path = join(dir, "main.json");
    await writeFileAtomic(path, "{}");
    expect(await readdir(dir)).toEqual(["main.json"]); // a finished write leaves only the file

    const live = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60_000)"]);
    try {
      const dead = `${path}.${host}-${await deadPid()}-0a1b2c3d.incomplete`;
      const ours = `${path}.${host}-${process.pid}-0a1b2c3d.incomplete`; // this process: a write in flight
      const running = `${path}.${host}-${live.pid}-0a1b2c3d.incomplete`; // a live process of this machine
      const otherHost = `${path}.ffffffff-${await deadPid()}-0a1b2c3d.incomplete`; // its pid says nothing here
      const oldFormat = `${path}.feedf00d.incomplete`; // an older version's write, fresh
      const oldFormatStale = `${path}.deadbeef.incomplete`;
      const otherHostStale = `${path}.eeeeeeee-1-0a1b2c3d.incomplete`;
      const notOurs = `${path}.partial.incomplete`; // another file's name, not a temp of `path`
      const all = [dead, ours, running, otherHost, oldFormat, oldFormatStale, otherHostStale, notOurs];
      for (const p of all) await writeFile(p, "{");
      const hourAgo = new Date(Date.now() - 3600_000);
      for (const p of [oldFormatStale, otherHostStale]) await utimes(p, hourAgo, hourAgo);

      await removeCutShortWrites(path);
      const left = await Promise.all(all.map(exists));
      expect(Object.fromEntries(all.map((p, i) => [p.slice(path.length), left[i]]))).toEqual({
        [dead.slice(path.length)]: false,
        [ours.slice(path.length)]: true,
        [running.slice(path.length)]: true,
        [otherHost.slice(path.length)]: true,
        [oldFormat.slice(path.length)]: true,
        [oldFormatStale.slice(path.length)]: false,
        [otherHostStale.slice(path.length)]: false,
        [notOurs.slice(path.length)]: true,
      });
      expect(await exists(path)).toBe(true);
    } finally {
      live.kill();
    }
  });
});

describe("symlinkAtomic", () => {
  it("leaves no temp beside the link when the link cannot be put in place", async () => {
    const dir = await tempDir();
    const link = join(dir, "config.json");
    await mkdir(join(link, "inside"), { recursive: true }); // a directory holds the name: the rename fails
    await expect(symlinkAtomic("../blobs/abc", link)).rejects.toThrow();
    expect(await readdir(dir)).toEqual(["config.json"]);
    await symlinkAtomic("../blobs/abc", join(dir, "model.bin"));
    expect((await lstat(join(dir, "model.bin"))).isSymbolicLink()).toBe(true);
    expect((await readdir(dir)).sort()).toEqual(["config.json", "model.bin"]);
  });
});
