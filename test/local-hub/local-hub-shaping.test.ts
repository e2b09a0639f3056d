import { get } from "node:http";
import { Agent, request } from "undici";
import { describe, expect, it } from "vitest";
import { cdnLikeShaping, isSlowConnection, makeRepo, startLocalHub, type HubRepo, type LocalHubOptions } from "@download-models/local-hub";
import { hub } from "../helpers/hub.ts";

// Speeds are only bounded from the side the server enforces (a capped connection cannot be faster than its cap,
// a delayed answer cannot come sooner); the other side gets a wide margin for a busy 2-core machine.

const SIZE = 200_000;
const repo: HubRepo = makeRepo({ id: "acme/shaped", files: [{ path: "w.safetensors", size: SIZE }] });
const file = repo.commits[0]!.files[0]!;

function shapedHub(options: Omit<LocalHubOptions, "repos">) {
  return hub({ repos: [repo], ...options });
}

/** One GET on a new TCP connection (no agent: `Connection: close`); seconds until the last body byte. */
function fetchOnNewConnection(url: string): Promise<{ seconds: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    get(url, { agent: false }, (res) => {
      let bytes = 0;
      res.on("data", (chunk: Buffer) => (bytes += chunk.length));
      res.on("end", () => resolve({ seconds: (performance.now() - t0) / 1000, bytes }));
      res.on("error", reject);
    }).on("error", reject);
  });
}

describe("uneven connections", () => {
  it("spreads the slow share evenly and deterministically over connection indexes", () => {
    const slowOf = (share: number, n: number) => [...Array(n).keys()].filter((i) => isSlowConnection(i, share));
    expect(slowOf(0.25, 12)).toEqual([3, 7, 11]);
    expect(slowOf(0.5, 6)).toEqual([1, 3, 5]);
    expect(slowOf(0, 8)).toEqual([]);
    expect(slowOf(1, 4)).toEqual([0, 1, 2, 3]);
    expect(slowOf(0.3, 10)).toHaveLength(3);
  });

  it("a CDN-like mix: 70 % of connections slow, the others 8× faster", () => {
    const o = cdnLikeShaping(2_000_000);
    expect(o).toEqual({ bandwidthPerConnection: 16_000_000, slowConnectionShare: 0.7, slowBandwidthPerConnection: 2_000_000 });
    expect([...Array(20).keys()].filter((i) => isSlowConnection(i, o.slowConnectionShare))).toHaveLength(14);
  });

  it("caps every 4th connection at the slow rate while the others run at the normal cap", async () => {
    const slowRate = 500_000;
    const h = await shapedHub({ bandwidthPerConnection: 16_000_000, slowConnectionShare: 0.25, slowBandwidthPerConnection: slowRate });
    const url = `${h.cdnUrl}/cdn/${file.sha256}`;
    const runs = [];
    for (let i = 0; i < 8; i++) runs.push(await fetchOnNewConnection(url));
    expect(runs.every((r) => r.bytes === SIZE)).toBe(true);
    // At 0.5 MB/s a 200 kB body takes 0.4 s (less one 16 KiB slice sent up front); at 16 MB/s about 13 ms.
    const slow = runs.flatMap((r, i) => (r.seconds >= 0.3 ? [i] : []));
    expect(slow).toEqual([3, 7]);
    for (const i of slow) {
      const rate = SIZE / runs[i]!.seconds;
      expect(rate).toBeLessThanOrEqual(slowRate * 1.1);
      expect(rate).toBeGreaterThan(slowRate * 0.4);
    }
    expect(h.connectionStats).toEqual({ connections: 8, slowConnections: 2 });
  });

  it("slows only the chosen connections when the others are uncapped", async () => {
    const h = await shapedHub({ slowConnectionShare: 0.5, slowBandwidthPerConnection: 1_000_000 });
    const url = `${h.cdnUrl}/cdn/${file.sha256}`;
    const first = await fetchOnNewConnection(url);
    const second = await fetchOnNewConnection(url);
    // 200 kB at 1 MB/s is 0.2 s, less one 20 kB slice.
    expect(second.seconds).toBeGreaterThanOrEqual(0.17);
    expect(first.seconds).toBeLessThan(0.17);
    expect(h.connectionStats).toEqual({ connections: 2, slowConnections: 1 });
  });

  it("holds a connection's cap on a busy host (late timers are made up for) and logs what each connection carried", async () => {
    const size = 1_000_000;
    const big = makeRepo({ id: "acme/busy", files: [{ path: "w.safetensors", size }] });
    const cap = 2_000_000;
    const h = await hub({ repos: [big], bandwidthPerConnection: cap });
    // The event loop is blocked 15 ms of every ~20: each 20 ms slice's timer fires up to 15 ms late.
    const busy = setInterval(() => {
      const until = performance.now() + 15;
      while (performance.now() < until);
    }, 5);
    try {
      const { seconds, bytes } = await fetchOnNewConnection(`${h.cdnUrl}/cdn/${big.commits[0]!.files[0]!.sha256}`);
      expect(bytes).toBe(size);
      // without making up for late timers this connection got about a fifth of its cap (0.38 MB/s), with it 0.6-0.7×
      expect(size / seconds).toBeGreaterThan(cap * 0.45);
      expect(size / seconds).toBeLessThanOrEqual(cap * 1.1);
    } finally {
      clearInterval(busy);
    }
    expect(h.connectionLog).toEqual([{ slow: false, bodies: 1, bytes: size }]);
  });

  it("refuses a slow share without a slow rate, or outside 0..1", async () => {
    await expect(startLocalHub({ repos: [repo], slowConnectionShare: 0.25 })).rejects.toThrow(/slowBandwidthPerConnection/);
    await expect(startLocalHub({ repos: [repo], slowConnectionShare: 1.5, slowBandwidthPerConnection: 1 })).rejects.toThrow(/between 0 and 1/);
    await expect(startLocalHub({ repos: [repo], bandwidthPerConnection: 0 })).rejects.toThrow(/bandwidthPerConnection/);
  });
});

describe("added latency", () => {
  it("delays the first byte of every request, API and file, also on a reused connection", async () => {
    const latencyMs = 150;
    const h = await shapedHub({ latencyMs });
    const dispatcher = new Agent({ connections: 1 });
    try {
      const timeToHeaders = async (url: string) => {
        const t0 = performance.now();
        const res = await request(url, { dispatcher });
        const ms = performance.now() - t0;
        await res.body.arrayBuffer();
        return { ms, status: res.statusCode };
      };
      const api = await timeToHeaders(`${h.url}/api/models/acme/shaped/revision/main`);
      const cdn1 = await timeToHeaders(`${h.cdnUrl}/cdn/${file.sha256}`);
      const cdn2 = await timeToHeaders(`${h.cdnUrl}/cdn/${file.sha256}`);
      for (const r of [api, cdn1, cdn2]) {
        expect(r.status).toBe(200);
        expect(r.ms).toBeGreaterThanOrEqual(latencyMs - 2);
        expect(r.ms).toBeLessThan(latencyMs + 1500);
      }
      // Both file requests went over one keep-alive connection: the delay is per request, not per connection.
      expect(h.connectionStats.connections).toBe(1);
    } finally {
      await dispatcher.close();
    }
  });
});
