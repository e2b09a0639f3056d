import { describe, expect, it } from "vitest";
import { CreateMultipartUploadCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { abortStaleUploads } from "../../src/remote/upload-state.ts";
import { RECORD_DIR } from "../../src/remote/volume-record.ts";
import { connection, localS3 } from "../helpers/s3.ts";

const TEN_MINUTES = 600_000;

describe("unfinished uploads on a shared volume", () => {
  it("a fill that completed a file aborts only the other uploads of its key that no live holder names, whichever machine holds them", async () => {
    const s3 = await localS3();
    const conn = connection(s3);
    const key = `${conn.target.prefix}huggingface/hub/models--acme--x/snapshots/${"a".repeat(40)}/w.bin`;
    const create = async () => (await conn.client.send(new CreateMultipartUploadCommand({ Bucket: "vol1", Key: key }))).UploadId!;
    const live = await create();
    const dead = await create();
    await create(); // held by nobody
    // Holder records as fills on two other machines write them: one still refreshed, one whose process died.
    const holder = (name: string) => `${conn.target.prefix}${RECORD_DIR}holders/${name}.json`;
    const announce = (name: string, uploads: string[]) => {
      const body = JSON.stringify({ holder: name, host: name.split("-")[0], pid: 4242, startedAt: new Date().toISOString(), uploads });
      return conn.client.send(new PutObjectCommand({ Bucket: "vol1", Key: holder(name), Body: body }));
    };
    await announce("pod1-4242-aaaa", [live]);
    await announce("laptop-4242-bbbb", [dead]);
    // On the server's clock: the dead holder stopped refreshing ten minutes ago; every upload is past the grace period.
    s3.store.buckets.get("vol1")!.get(holder("laptop-4242-bbbb"))!.lastModified = new Date(Date.now() - TEN_MINUTES);
    for (const u of s3.store.uploads.values()) u.initiated = new Date(Date.now() - TEN_MINUTES);

    expect(await abortStaleUploads(conn, key)).toBe(2);
    expect([...s3.store.uploads.keys()]).toEqual([live]);
  });
});
