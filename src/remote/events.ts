/** How an object's ETag was checked after writing it. */
export type EtagCheck = "md5" | "multipart" | "unverified";

/**
 * Upload progress as data: the S3 code emits these, the CLI renders them. `target` is the `--volume` label.
 */
export type S3Event =
  | { type: "upload-start"; target: string; key: string; size: number; multipart: boolean; resumedBytes: number }
  | { type: "upload-progress"; target: string; key: string; bytes: number; size: number; delta: number }
  | { type: "upload-retry"; target: string; key: string; attempt: number; delayMs: number; reason: string }
  | { type: "upload-done"; target: string; key: string; size: number; etag: string; etagCheck: EtagCheck }
  | { type: "object-present"; target: string; key: string; size: number }
  | { type: "listing-fallback"; target: string; prefix: string; reason: string }
  | { type: "model-skip"; target: string; model: string }
  | { type: "model-uploaded"; target: string; model: string; uploaded: number; present: number; bytesSent: number };

export type S3EventSink = (event: S3Event) => void;
