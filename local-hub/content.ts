import { createHash } from "node:crypto";
import { endianness } from "node:os";
import { Readable } from "node:stream";

/** Content is generated per block so any byte range can be produced without its prefix. */
export const BLOCK_SIZE = 64 * 1024;

const WORDS_PER_BLOCK = BLOCK_SIZE / 4;
const BIG_ENDIAN = endianness() === "BE";

function seedWords(seed: string): [number, number] {
  const digest = createHash("sha256").update(seed).digest();
  return [digest.readUInt32LE(0), digest.readUInt32LE(4)];
}

// murmur3 finalizer: a cheap, well-mixed 32-bit hash.
function fmix32(value: number): number {
  let z = value;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

function generateBlock(key: [number, number], blockIndex: number): Buffer {
  const low = blockIndex >>> 0;
  const high = Math.floor(blockIndex / 0x1_0000_0000);
  const blockSeed = fmix32(key[0] ^ fmix32(low ^ fmix32(key[1] ^ high)));
  // xorshift128 (Marsaglia): about twice as fast as hashing every word; `| 1` keeps the state non-zero.
  let x = fmix32(blockSeed) | 1;
  let y = fmix32(blockSeed + 1);
  let z = fmix32(blockSeed + 2);
  let w = fmix32(blockSeed + 3);
  const words = new Uint32Array(WORDS_PER_BLOCK);
  for (let i = 0; i < WORDS_PER_BLOCK; i++) {
    const t = x ^ (x << 11);
    x = y;
    y = z;
    z = w;
    w = w ^ (w >>> 19) ^ (t ^ (t >>> 8));
    words[i] = w;
  }
  const block = Buffer.from(words.buffer);
  // Words are defined little-endian so the bytes do not depend on the host.
  return BIG_ENDIAN ? block.swap32() : block;
}

function checkRange(start: number, end: number): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(`Invalid byte range [${start}, ${end})`);
  }
}

function* slices(seed: string, start: number, end: number): Generator<Buffer> {
  const key = seedWords(seed);
  let pos = start;
  while (pos < end) {
    const blockIndex = Math.floor(pos / BLOCK_SIZE);
    const blockStart = blockIndex * BLOCK_SIZE;
    const to = Math.min(BLOCK_SIZE, end - blockStart);
    yield generateBlock(key, blockIndex).subarray(pos - blockStart, to);
    pos = blockStart + to;
  }
}

/** Bytes `[start, end)` of the endless deterministic content named by `seed`. */
export function deterministicBytes(seed: string, start: number, end: number): Buffer {
  checkRange(start, end);
  return Buffer.concat([...slices(seed, start, end)], end - start);
}

/** Consecutive slices of `[start, end)`, generated one block at a time (flat memory). */
export function deterministicChunks(seed: string, start: number, end: number): Iterable<Buffer> {
  checkRange(start, end);
  return slices(seed, start, end);
}

/** A stream of bytes `[start, endExclusive)`, generated lazily as the consumer reads. */
export function deterministicStream(seed: string, start: number, endExclusive: number): Readable {
  checkRange(start, endExclusive);
  return Readable.from(slices(seed, start, endExclusive), { objectMode: false, highWaterMark: BLOCK_SIZE });
}
