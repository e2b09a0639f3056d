import type { Socket } from "node:net";
import { Transform } from "node:stream";

// One budget per TCP connection: keep-alive requests on the same socket share it, as on a real CDN edge.
const budgets = new WeakMap<Socket, { nextAt: number }>();

/** Pass bytes through at no more than `bytesPerSecond` for this socket (a per-connection bandwidth cap). */
export function throttle(socket: Socket, bytesPerSecond: number): Transform {
  let budget = budgets.get(socket);
  if (!budget) {
    budget = { nextAt: 0 };
    budgets.set(socket, budget);
  }
  const b = budget;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const now = performance.now();
      const start = Math.max(b.nextAt, now);
      b.nextAt = start + (chunk.length * 1000) / bytesPerSecond;
      const wait = b.nextAt - now;
      if (wait < 1) callback(null, chunk);
      else setTimeout(() => callback(null, chunk), wait);
    },
  });
}
