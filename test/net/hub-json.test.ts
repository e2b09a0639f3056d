import { describe, expect, it } from "vitest";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Agent } from "undici";
import { DEFAULT_TOKEN, makeRepo, type HubRepo, type LocalHubOptions } from "@download-models/local-hub";
import { builtinDownloaders, createRegistry } from "../../src/sources/registry.ts";
import { MAX_JSON_BYTES, type ApiWait } from "../../src/net/api-call.ts";
import { nextPageUrl } from "../../src/net/hub-json.ts";
import { HubError } from "../../src/errors.ts";
import type { ModelRequest, Snapshot } from "../../src/types.ts";
import { hfModel, hub, msModel } from "../helpers/hub.ts";

// HuggingFace and ModelScope are asked through one JSON client: the same waits, the same size cap, the same
// redirect and credential rules, whichever hub it is. Each case runs on both hubs.

const files = [
  { path: "config.json", text: "{}\n" },
  { path: "model.bin", size: 20_000 },
];

interface HubCase {
  name: string;
  repo: () => HubRepo;
  model: ModelRequest;
  /** The first API call of a resolve (revision → commit, or the revisions list). */
  first: RegExp;
  listing: RegExp;
}

const cases: HubCase[] = [
  {
    name: "HuggingFace",
    repo: () => makeRepo({ id: "acme/x", files }),
    model: hfModel("acme/x"),
    first: /^\/api\/models\/acme\/x\/revision\/main$/,
    listing: /^\/api\/models\/acme\/x\/tree\//,
  },
  {
    name: "ModelScope",
    repo: () => makeRepo({ source: "modelscope", id: "iic/x", files }),
    model: msModel("iic/x"),
    first: /^\/api\/v1\/models\/iic\/x\/revisions$/,
    listing: /^\/api\/v1\/models\/iic\/x\/repo\/files\?/,
  },
];

type Intercept = NonNullable<LocalHubOptions["intercept"]>;

/** Resolve one model as a download does (the downloader's own resolve), collecting the waits it reports. */
async function resolveOn(url: string, model: ModelRequest, token?: string): Promise<{ snapshot?: Snapshot; error?: unknown; waits: ApiWait[] }> {
  const waits: ApiWait[] = [];
  const dispatcher = new Agent({ connections: 4 });
  try {
    const downloader = createRegistry(builtinDownloaders).get(model.source);
    const env = { HF_ENDPOINT: url, MODELSCOPE_ENDPOINT: url };
    const snapshot = await downloader.resolve(model, { env, dispatcher, ...(token ? { token } : {}), onWait: (w) => waits.push(w) });
    return { snapshot, waits };
  } catch (error) {
    return { error, waits };
  } finally {
    await dispatcher.close();
  }
}

/** Answer with what the hub at `base` answers for `path` (asked with a token of its own, as a proxy would). */
function proxy(base: string, path: string, res: ServerResponse): void {
  void fetch(base + path, { headers: { authorization: `Bearer ${DEFAULT_TOKEN}` } }).then(
    async (r) => {
      const link = r.headers.get("link");
      res.writeHead(r.status, { "content-type": "application/json", ...(link ? { link } : {}) }).end(Buffer.from(await r.arrayBuffer()));
    },
    () => res.destroy(),
  );
}

const once = (test: RegExp, answer: (req: IncomingMessage, res: ServerResponse) => void): Intercept => {
  let done = false;
  return (req, res, server) => {
    if (done || server !== "hub" || !test.test(req.url ?? "")) return false;
    done = true;
    answer(req, res);
    return true;
  };
};

describe("one JSON client for both hubs", () => {
  for (const c of cases) {
    it(`${c.name}: waits the same way before a retry: Retry-After on a 429, backoff on a 5xx, each reported`, async () => {
      const on503 = once(c.first, (_req, res) => res.writeHead(503, { "content-type": "application/json" }).end('{"error":"busy"}'));
      const on429 = once(c.listing, (_req, res) => res.writeHead(429, { "retry-after": "0" }).end());
      const h = await hub({ repos: [c.repo()], intercept: (req, res, server) => on503(req, res, server) || on429(req, res, server) });
      const { snapshot, error, waits } = await resolveOn(h.url, c.model);
      expect(error).toBeUndefined();
      expect(snapshot!.files.map((f) => f.path).sort()).toEqual(["config.json", "model.bin"]);
      expect(waits).toHaveLength(2);
      expect(waits[0]).toMatchObject({ reason: "HTTP 503", attempt: 2, attempts: 4 });
      expect(waits[0]!.delayMs).toBeGreaterThanOrEqual(500);
      expect(waits[0]!.delayMs).toBeLessThanOrEqual(1000);
      expect(waits[1]).toEqual({ reason: "rate limited by the hub", delayMs: 0, attempt: 2, attempts: 4 });
    });

    it(`${c.name}: refuses an answer over 64 MiB at once, without retrying it`, async () => {
      const huge = Buffer.alloc(MAX_JSON_BYTES + 1024, 0x20);
      const h = await hub({
        repos: [c.repo()],
        intercept: (req, res) => {
          if (!c.first.test(req.url ?? "")) return false;
          res.writeHead(200, { "content-type": "application/json" }).end(huge);
          return true;
        },
      });
      const { error, waits } = await resolveOn(h.url, c.model);
      expect(error).toBeInstanceOf(HubError);
      expect((error as Error).message).toMatch(/larger than 64 MiB; refusing it/);
      expect(waits).toEqual([]);
      expect(h.requests.filter((r) => c.first.test(r.path))).toHaveLength(1);
    });

    it(`${c.name}: refuses a listing redirected to another scheme at once, naming it`, async () => {
      const h = await hub({ repos: [c.repo()], intercept: once(c.listing, (_req, res) => res.writeHead(302, { location: "ftp://127.0.0.1/listing" }).end()) });
      const { error, waits } = await resolveOn(h.url, c.model);
      expect((error as Error).message).toMatch(/Refusing a redirect to a ftp: URL/);
      expect(waits).toEqual([]);
      expect(h.requests.filter((r) => c.listing.test(r.path))).toHaveLength(1);
    });

    it(`${c.name}: sends the token to the hub's origin only, not to where a listing is redirected`, async () => {
      let h!: Awaited<ReturnType<typeof hub>>;
      const redirect = once(c.listing, (req, res) => res.writeHead(307, { location: `${h.cdnUrl}${req.url}` }).end());
      h = await hub({
        repos: [c.repo()],
        intercept: (req, res, server) => {
          if (server !== "cdn" || !c.listing.test(req.url ?? "")) return redirect(req, res, server);
          proxy(h.url, req.url!, res);
          return true;
        },
      });
      const { error } = await resolveOn(h.url, c.model, DEFAULT_TOKEN);
      expect(error).toBeUndefined();
      const elsewhere = h.requests.filter((r) => r.server === "cdn" && c.listing.test(r.path));
      expect(elsewhere.length).toBeGreaterThan(0);
      expect(elsewhere.every((r) => r.authorization === undefined && r.cookie === undefined)).toBe(true);
      expect(h.requests.filter((r) => r.server === "hub").every((r) => r.authorization === `Bearer ${DEFAULT_TOKEN}`)).toBe(true);
    });
  }

  it("HuggingFace: a next page on another origin is asked without the token, and the listing still completes", async () => {
    let h!: Awaited<ReturnType<typeof hub>>;
    let first = true;
    h = await hub({
      repos: [makeRepo({ id: "acme/x", files })],
      intercept: (req, res, server) => {
        if (!/^\/api\/models\/acme\/x\/tree\//.test(req.url ?? "")) return false;
        if (server === "cdn") {
          proxy(h.url, req.url!.replace("&cursor=elsewhere", ""), res);
          return true;
        }
        if (!first) return false;
        first = false;
        res.writeHead(200, { "content-type": "application/json", link: `<${h.cdnUrl}${req.url}&cursor=elsewhere>; rel="next"` }).end("[]");
        return true;
      },
    });
    const { snapshot, error } = await resolveOn(h.url, hfModel("acme/x"), DEFAULT_TOKEN);
    expect(error).toBeUndefined();
    expect(snapshot!.files.map((f) => f.path).sort()).toEqual(["config.json", "model.bin"]);
    const page2 = h.requests.filter((r) => r.server === "cdn" && r.path.includes("cursor=elsewhere"));
    expect(page2).toHaveLength(1);
    expect(page2[0]!.authorization).toBeUndefined();
  });

  it("reads the next page from a Link header: absolute or relative, among other links", () => {
    const base = "https://hub.example/api/models/a/b/tree/c?recursive=true";
    const cases: Array<[string | string[] | undefined, string | undefined]> = [
      [undefined, undefined],
      ['<https://hub.example/api/models/a/b/tree/c?cursor=2>; rel="next"', "https://hub.example/api/models/a/b/tree/c?cursor=2"],
      ['</api/models/a/b/tree/c?cursor=3>; rel=next', "https://hub.example/api/models/a/b/tree/c?cursor=3"],
      ['<https://hub.example/p1>; rel="prev", <https://hub.example/p3>; rel="next"', "https://hub.example/p3"],
      [['<https://hub.example/p1>; rel="prev"', '<https://hub.example/p4>; rel="next"'], "https://hub.example/p4"],
      ['<https://hub.example/p1>; rel="prev"', undefined],
    ];
    for (const [link, next] of cases) expect(nextPageUrl(link === undefined ? {} : { link }, base)).toBe(next);
  });
});
