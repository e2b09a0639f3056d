import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import type { S3Connection } from "./client.ts";
import { RECORD_DIR } from "./volume-record.ts";

// Several fills may write one volume at once, from one machine or many. Each announces itself with a small holder
// record on the volume (no flock: S3 has none, and Pods share no kernel), refreshed by a heartbeat and naming the
// multipart uploads it has open. An upload is only aborted as an orphan when no live holder names it. Liveness is
// judged on the server's clock alone (the records' LastModified), so a machine whose clock is off judges right.
const HOLDERS = `${RECORD_DIR}holders/`;

export interface HolderTiming {
  /** How often a holder refreshes its record. @default 20 s */
  heartbeatMs: number;
  /** A record not refreshed for this long belongs to a dead process. @default 3 min */
  staleMs: number;
  /** Uploads started this recently are never aborted: their holder may not have named them yet. @default 5 min */
  graceMs: number;
}

/** How long an interrupted run waits to take its holder record off the volume. */
const STOP_DELETE_MS = 500;

export const DEFAULT_HOLDER_TIMING: HolderTiming = { heartbeatMs: 20_000, staleMs: 180_000, graceMs: 300_000 };

interface HolderRecord {
  holder: string;
  host: string;
  pid: number;
  startedAt: string;
  uploads: string[];
}

/** This process's presence on one volume while it writes there. */
export class VolumeHolder {
  readonly id = `${hostname()}-${process.pid}-${randomBytes(4).toString("hex")}`;
  private readonly uploads = new Set<string>();
  private readonly startedAt = new Date().toISOString();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    readonly conn: S3Connection,
    readonly timing: HolderTiming = DEFAULT_HOLDER_TIMING,
  ) {}

  get key(): string {
    return `${this.conn.target.prefix}${HOLDERS}${this.id}.json`;
  }

  /** Announce this process; then refresh the record every heartbeat until stop(). */
  async start(): Promise<void> {
    await this.write();
    this.timer = setInterval(() => void this.write().catch(() => {}), this.timing.heartbeatMs);
    this.timer.unref();
  }

  /** Name an upload as ours before its first part goes out. */
  async hold(uploadId: string): Promise<void> {
    this.uploads.add(uploadId);
    await this.write();
  }

  release(uploadId: string): void {
    this.uploads.delete(uploadId);
  }

  /** Leave the volume: the record goes, so our unfinished uploads become orphans anyone may abort. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.writing.catch(() => {});
    // Not the run's signal: an interrupted run still takes its record away, but within a moment (an interrupt stops
    // within a second); a record left behind only goes stale after `staleMs`.
    const cut = this.conn.signal?.aborted ? { abortSignal: AbortSignal.timeout(STOP_DELETE_MS) } : {};
    await this.conn.client.send(new DeleteObjectCommand({ Bucket: this.conn.target.bucket, Key: this.key }), cut).catch(() => {});
  }

  private write(): Promise<void> {
    const record: HolderRecord = { holder: this.id, host: hostname(), pid: process.pid, startedAt: this.startedAt, uploads: [...this.uploads] };
    const body = JSON.stringify(record);
    this.writing = this.writing.catch(() => {}).then(async () => {
      const cmd = new PutObjectCommand({ Bucket: this.conn.target.bucket, Key: this.key, Body: body, ContentLength: Buffer.byteLength(body) });
      await this.conn.client.send(cmd, { abortSignal: this.conn.signal });
    });
    return this.writing;
  }
}

/** What the volume's live holders hold, and the server's "now" (the newest holder record: ours was just written). */
export interface LiveUploads {
  held: Set<string>;
  serverNow: number;
  timing: HolderTiming;
}

/** Read every holder record on the volume; those not refreshed within `staleMs` of the newest are dead. */
export async function liveUploads(conn: S3Connection, timing: HolderTiming = DEFAULT_HOLDER_TIMING): Promise<LiveUploads> {
  const listed: { key: string; at: number }[] = [];
  let token: string | undefined;
  do {
    const page = await conn.client.send(
      new ListObjectsV2Command({ Bucket: conn.target.bucket, Prefix: `${conn.target.prefix}${HOLDERS}`, ContinuationToken: token }),
      { abortSignal: conn.signal },
    );
    for (const o of page.Contents ?? []) if (o.Key?.endsWith(".json")) listed.push({ key: o.Key, at: o.LastModified?.getTime() ?? 0 });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  const serverNow = Math.max(0, ...listed.map((l) => l.at));
  const held = new Set<string>();
  for (const l of listed.filter((x) => serverNow - x.at < timing.staleMs)) {
    try {
      const out = await conn.client.send(new GetObjectCommand({ Bucket: conn.target.bucket, Key: l.key }), { abortSignal: conn.signal });
      const record = JSON.parse((await out.Body?.transformToString()) ?? "{}") as Partial<HolderRecord>;
      for (const id of record.uploads ?? []) held.add(id);
    } catch (error) {
      if (conn.signal?.aborted) throw error;
      // Gone between the listing and the read: its holder stopped.
    }
  }
  return { held, serverNow, timing };
}

/** May this upload be aborted as an orphan: no live holder names it, and it is older than the grace period. */
export function isOrphan(upload: { uploadId: string; initiated: Date | undefined }, live: LiveUploads): boolean {
  if (live.held.has(upload.uploadId)) return false;
  const started = upload.initiated?.getTime();
  return started === undefined || live.serverNow === 0 || live.serverNow - started >= live.timing.graceMs;
}
