// Uploads one file to a local S3 endpoint and is killed mid-way by the test (resume after kill -9).
import pLimit from "p-limit";
import { connect } from "../../src/remote/client.ts";
import { parseVolume } from "../../src/remote/target.ts";
import { uploadFile } from "../../src/remote/upload.ts";

const [endpoint, stateDir, localPath, key, size] = process.argv.slice(2) as [string, string, string, string, string];
const target = parseVolume("vol1@EU-RO-1", { endpoint });
const conn = connect(target, { accessKeyId: process.env.TEST_S3_KEY!, secretAccessKey: process.env.TEST_S3_SECRET!, from: "test" });
await uploadFile(
  { conn, limit: pLimit(1), env: process.env, stateDir, retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 50 } },
  { localPath, key, size: Number(size) },
);
process.stdout.write("done\n");
