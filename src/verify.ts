import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import type { ResolvedFile } from "./types.ts";

/** Incremental check of a file's bytes against what the hub published: sha256 if known, else git blob sha1, else size. */
export class Verifier {
  private hash: Hash | undefined;
  private seen = 0;
  constructor(private readonly file: ResolvedFile) {
    this.reset();
  }

  reset(): void {
    this.seen = 0;
    if (this.file.sha256) this.hash = createHash("sha256");
    else if (this.file.gitSha1) this.hash = createHash("sha1").update(`blob ${this.file.size}\0`);
    else this.hash = undefined;
  }

  update(chunk: Uint8Array): void {
    this.seen += chunk.length;
    this.hash?.update(chunk);
  }

  /** undefined when the bytes match; otherwise what differs, for the error message. */
  problem(): string | undefined {
    if (this.seen !== this.file.size) return `size ${this.seen} bytes, expected ${this.file.size}`;
    if (!this.hash) return undefined;
    const digest = this.hash.digest("hex");
    const expected = (this.file.sha256 ?? this.file.gitSha1)!.toLowerCase();
    const kind = this.file.sha256 ? "sha256" : "git sha1";
    return digest === expected ? undefined : `${kind} ${digest}, expected ${expected}`;
  }
}

/** Hash a file on disk the way `Verifier` does: undefined if it matches. */
export async function verifyFileOnDisk(path: string, file: ResolvedFile): Promise<string | undefined> {
  const v = new Verifier(file);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) v.update(chunk as Buffer);
  return v.problem();
}
