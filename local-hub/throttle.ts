import type { Socket } from "node:net";
import { Transform } from "node:stream";

/** Per-connection bandwidth of a hub: every connection at one cap, or a share of them much slower (uneven CDN edges). */
export interface ShapingOptions {
  /** Cap of a normal connection, bytes per second; undefined = uncapped. */
  bandwidthPerConnection?: number;
  /** Share (0..1) of the connections that carry file bodies which get `slowBandwidthPerConnection` instead. */
  slowConnectionShare?: number;
  /** Cap of a slow connection, bytes per second. */
  slowBandwidthPerConnection?: number;
}

/** Fast connections of a CDN-like hub carry this many times the slow ones' rate. */
export const CDN_FAST_FACTOR = 8;
/** Share of a CDN-like hub's connections that are slow. */
export const CDN_SLOW_SHARE = 0.7;

/**
 * A CDN-like mix: 70 % of connections at `slowBytesPerSecond`, 30 % at 8× that. Public measurements of CloudFront
 * edges show about this spread (most edges cap a connection near 8.7 MB/s, others give ~67 MB/s), and which one a
 * new connection gets is luck: a client that adapts its connections and takes over slow remainders wins there.
 */
export function cdnLikeShaping(slowBytesPerSecond: number): Required<ShapingOptions> {
  return {
    bandwidthPerConnection: slowBytesPerSecond * CDN_FAST_FACTOR,
    slowConnectionShare: CDN_SLOW_SHARE,
    slowBandwidthPerConnection: slowBytesPerSecond,
  };
}

/**
 * Whether the `index`-th connection (0-based) is a slow one: spread evenly and deterministically, so any run of
 * connections holds its share (0.25 → indexes 3, 7, 11, …; 0.5 → 1, 3, 5, …), and a rerun sees the same pattern.
 */
export function isSlowConnection(index: number, share: number): boolean {
  return Math.floor((index + 1) * share) > Math.floor(index * share);
}

/** How far a capped connection may catch up on time lost to late timers, within one body. */
const CATCH_UP_MS = 100;

interface Budget {
  bytesPerSecond: number;
  nextAt: number;
  record: ConnectionRecord;
}

/** What one shaped connection carried: how a client spread its bytes over slow and fast connections. */
export interface ConnectionRecord {
  slow: boolean;
  /** File bodies it carried (requests on a kept-alive connection). */
  bodies: number;
  /** Body bytes it sent. */
  bytes: number;
}

/** Decides each connection's cap once, at its first file body, and throttles every body it carries against one budget. */
export class ConnectionShaper {
  // One budget per TCP connection: keep-alive requests on the same socket share it, as on a real CDN edge.
  readonly #budgets = new WeakMap<Socket, Budget | null>();
  #connections = 0;
  #slowConnections = 0;
  readonly #log: ConnectionRecord[] = [];

  constructor(private readonly options: ShapingOptions) {
    const { bandwidthPerConnection: fast, slowConnectionShare: share = 0, slowBandwidthPerConnection: slow } = options;
    if (fast !== undefined && !(fast > 0)) throw new RangeError("`bandwidthPerConnection` must be > 0 bytes per second");
    if (!(share >= 0 && share <= 1)) throw new RangeError("`slowConnectionShare` must be between 0 and 1");
    if (share > 0 && !(slow !== undefined && slow > 0)) {
      throw new RangeError("`slowConnectionShare` needs `slowBandwidthPerConnection` > 0 bytes per second");
    }
  }

  /** Connections that carried a file body so far, and how many of them were slow. */
  get stats(): { connections: number; slowConnections: number } {
    return { connections: this.#connections, slowConnections: this.#slowConnections };
  }

  /** One record per capped connection, in the order of their first file body. */
  get log(): readonly ConnectionRecord[] {
    return this.#log;
  }

  #budget(socket: Socket): Budget | null {
    let budget = this.#budgets.get(socket);
    if (budget !== undefined) return budget;
    const slow = isSlowConnection(this.#connections++, this.options.slowConnectionShare ?? 0);
    if (slow) this.#slowConnections++;
    const rate = slow ? this.options.slowBandwidthPerConnection : this.options.bandwidthPerConnection;
    const record = { slow, bodies: 0, bytes: 0 };
    if (rate !== undefined) this.#log.push(record);
    budget = rate === undefined ? null : { bytesPerSecond: rate, nextAt: 0, record };
    this.#budgets.set(socket, budget);
    return budget;
  }

  /** A pass-through stage for a file body on `socket`; undefined when this connection is uncapped. */
  throttle(socket: Socket): Transform | undefined {
    const budget = this.#budget(socket);
    if (!budget) return undefined;
    // Each body starts on the clock: no credit for the idle time between requests on a kept-alive connection.
    budget.nextAt = Math.max(budget.nextAt, performance.now());
    budget.record.bodies++;
    // Slices of ~20 ms of transfer: a slow connection trickles like a real one instead of bursting a whole
    // read buffer (1 MiB from disk files) and then going silent for seconds.
    const slice = Math.max(16 * 1024, Math.floor(budget.bytesPerSecond / 50));
    return new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        let offset = 0;
        // Each piece leaves when the connection's budget allows it (the debt of an earlier body on the same
        // socket included), then books its own transfer time.
        const next = (): void => {
          if (offset >= chunk.length) return callback();
          const now = performance.now();
          const wait = budget.nextAt - now;
          if (wait >= 1) {
            setTimeout(next, wait);
            return;
          }
          const piece = chunk.subarray(offset, offset + slice);
          offset += piece.length;
          // A token bucket CATCH_UP_MS deep: a timer that fired late on a busy host is made up for, so the cap
          // holds as a rate instead of dropping with the host's scheduling delays (at load 18 a 2 MB/s connection
          // delivered 0.6 MB/s without it).
          budget.nextAt = Math.max(budget.nextAt, now - CATCH_UP_MS) + (piece.length * 1000) / budget.bytesPerSecond;
          budget.record.bytes += piece.length;
          this.push(piece);
          next();
        };
        next();
      },
    });
  }
}
