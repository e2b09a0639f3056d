import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { connect, disconnect } from "../../src/remote/client.ts";
import { checkTarget, checkTargets } from "../../src/remote/check.ts";
import { S3TargetError } from "../../src/remote/errors.ts";
import { parseVolume } from "../../src/remote/target.ts";
import { connection, KEYS, localS3 } from "../helpers/s3.ts";

async function checkError(promise: Promise<void>): Promise<S3TargetError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(S3TargetError);
  expect((error as S3TargetError).exitCode).toBe(2);
  return error as S3TargetError;
}

describe("checkTarget", () => {
  it("accepts a volume that exists with the right keys, in one request", async () => {
    const s3 = await localS3();
    await checkTarget(connection(s3));
    expect(s3.requests.map((r) => r.operation)).toEqual(["HeadBucket"]);
  });

  it("says the volume does not exist in that datacenter", async () => {
    const s3 = await localS3();
    const error = await checkError(checkTarget(connection(s3, "missing1@EU-RO-1")));
    expect(error.message).toMatch(/--volume missing1@EU-RO-1: no network volume missing1 in EU-RO-1 at http:\/\/127\.0\.0\.1:\d+\. Check the volume id and its datacenter/);
  });

  it("names RUNPOD_S3_ACCESS_KEY_ID when the access key is unknown", async () => {
    const s3 = await localS3();
    const error = await checkError(checkTarget(connection(s3, "vol1@EU-RO-1", { ...KEYS, accessKeyId: "user_wrong" })));
    expect(error.message).toMatch(/access key is unknown .*check RUNPOD_S3_ACCESS_KEY_ID/);
  });

  it("names RUNPOD_S3_SECRET_ACCESS_KEY when the signature does not match, without printing the secret", async () => {
    const s3 = await localS3();
    const error = await checkError(checkTarget(connection(s3, "vol1@EU-RO-1", { ...KEYS, secretAccessKey: "rps_wrongSecretValue" })));
    expect(error.message).toMatch(/secret does not match the access key: check RUNPOD_S3_SECRET_ACCESS_KEY/);
    expect(error.message).not.toContain("rps_wrongSecretValue");
  });

  it("reports clock skew when the server cannot be used to correct it", async () => {
    const s3 = await localS3({ clockOffsetMs: 2 * 3_600_000, advertiseClock: false });
    const error = await checkError(checkTarget(connection(s3)));
    expect(error.message).toMatch(/your clock is off the volume's server by more than it allows: fix the clock \(NTP\)/);
  });

  it("lets the SDK correct a skewed clock when the server sends its Date", async () => {
    const s3 = await localS3({ clockOffsetMs: 2 * 3_600_000 });
    await checkTarget(connection(s3));
    expect(s3.requests.map((r) => r.status)).toEqual([403, 200]);
  });

  it("says the endpoint is unreachable, quickly", async () => {
    const closed = createServer();
    const port = await new Promise<number>((resolve) => closed.listen(0, "127.0.0.1", () => resolve((closed.address() as { port: number }).port)));
    await new Promise((resolve) => closed.close(resolve));
    const conn = connect(parseVolume("vol1@EU-RO-1", { endpoint: `http://127.0.0.1:${port}` }), { ...KEYS, from: "test" });
    const started = Date.now();
    const error = await checkError(checkTarget(conn));
    expect(error.message).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
    expect(Date.now() - started).toBeLessThan(10_000);
    disconnect(conn);
  });

  it("splits several targets into usable ones and one error each", async () => {
    const s3 = await localS3({ buckets: ["vol1", "vol2"] });
    const result = await checkTargets([connection(s3, "vol1@EU-RO-1"), connection(s3, "nope@US-KS-2"), connection(s3, "vol2@US-KS-2")]);
    expect(result.usable.map((c) => c.target.label)).toEqual(["vol1@EU-RO-1", "vol2@US-KS-2"]);
    expect(result.failures.map((f) => f.target)).toEqual(["nope@US-KS-2"]);
  });
});
