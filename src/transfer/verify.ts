import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import type { ResolvedFile } from "../types.ts";

/** Incremental check of a file's bytes against what the hub published: sha256 if known, else git blob sha1, else size. */
export class Verifier {
  private hash: Hash | undefined;
  private seen = 0;
  constructor(private readonly file: ResolvedFile) {
    this.reset();
  }

  reset(): void {
    this.seen = 0;
    const spec = hashSpec(this.file);
    this.hash = spec ? createHash(spec.algorithm) : undefined;
    if (spec?.header) this.hash!.update(spec.header);
  }

  update(chunk: Uint8Array): void {
    this.seen += chunk.length;
    this.hash?.update(chunk);
  }

  /** undefined when the bytes match; otherwise what differs, for the error message. */
  problem(): string | undefined {
    return digestProblem(this.file, this.hash?.digest("hex"), this.seen);
  }
}

/** How the file's expected hash is computed: the algorithm and the prefix git hashes before the content. */
export function hashSpec(file: ResolvedFile): { algorithm: "sha256" | "sha1"; header?: string } | undefined {
  if (file.sha256) return { algorithm: "sha256" };
  if (file.gitSha1) return { algorithm: "sha1", header: `blob ${file.size}\0` };
  return undefined;
}

/** Compare what was hashed with what the hub published: undefined when it matches. */
export function digestProblem(file: ResolvedFile, digest: string | undefined, seen: number): string | undefined {
  if (seen !== file.size) return `size ${seen} bytes, expected ${file.size}`;
  const expected = (file.sha256 ?? file.gitSha1)?.toLowerCase();
  if (!expected || digest === undefined) return undefined;
  const kind = file.sha256 ? "sha256" : "git sha1";
  return digest === expected ? undefined : `${kind} ${digest}, expected ${expected}`;
}

async function eachChunk(path: string, use: (chunk: Buffer) => void): Promise<void> {
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) use(chunk as Buffer);
}

/** Hash a file on disk the way `Verifier` does: undefined if it matches. */
export async function verifyFileOnDisk(path: string, file: ResolvedFile): Promise<string | undefined> {
  const v = new Verifier(file);
  await eachChunk(path, (chunk) => v.update(chunk));
  return v.problem();
}

/** The sha256 of a file on disk, hex. */
export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  await eachChunk(path, (chunk) => hash.update(chunk));
  return hash.digest("hex");
}
