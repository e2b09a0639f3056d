import { Readable } from "node:stream";
import type { Dispatcher } from "undici";
import { Agent, backoffDelay, header, isRetryableStatus, nextHop, request, retryAfterMs, sleep } from "../net/index.ts";
import type { Credentials } from "./credentials.ts";
import { RegistryError } from "./errors.ts";
import { MEDIA } from "./layer.ts";

/** `host[:port]/repo[:tag][@digest]`, with Docker Hub's short forms expanded. */
export interface ImageRef {
  /** The API host (Docker Hub: registry-1.docker.io). */
  host: string;
  repository: string;
  tag?: string;
  digest?: string;
}

const REPO = /^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

export function parseImageRef(input: string): ImageRef {
  let rest = input.replace(/^docker:\/\//, "");
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new RegistryError(`"${input}": the digest must be sha256:<64 hex>`);
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const first = rest.split("/")[0]!;
  const hasHost = rest.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost");
  let host = hasHost ? first : "docker.io";
  let repository = hasHost ? rest.slice(first.length + 1) : rest;
  if (host === "docker.io" || host === "index.docker.io") {
    host = "registry-1.docker.io";
    if (!repository.includes("/")) repository = `library/${repository}`;
  }
  if (!REPO.test(repository)) throw new RegistryError(`"${input}": "${repository}" is not a valid repository name (lower case, digits, . _ - and /)`);
  if (tag !== undefined && !TAG.test(tag)) throw new RegistryError(`"${input}": "${tag}" is not a valid tag`);
  if (!tag && !digest) tag = "latest";
  return { host, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

export function formatRef(ref: ImageRef): string {
  const host = ref.host === "registry-1.docker.io" ? "docker.io" : ref.host;
  return `${host}/${ref.repository}${ref.tag ? `:${ref.tag}` : ""}${ref.digest ? `@${ref.digest}` : ""}`;
}

/** Loopback hosts: the only ones spoken to over plain HTTP without `--insecure`. */
export function isLoopback(host: string): boolean {
  const name = host.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  return name === "localhost" || name === "::1" || /^127\.\d+\.\d+\.\d+$/.test(name);
}

export const MANIFEST_ACCEPT = [MEDIA.index, MEDIA.manifest, MEDIA.dockerList, MEDIA.dockerManifest].join(", ");

export interface RegistryClientOptions {
  host: string;
  /** Plain HTTP to a host that is not loopback (`--insecure`). */
  insecure?: boolean;
  credentials?: Credentials;
  /** Every scope the session needs (push: `repository:<repo>:pull,push`; mount: also `repository:<from>:pull`). */
  scopes: string[];
  signal?: AbortSignal;
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** RFC 7235 challenges: `Bearer realm="…",service="…",scope="a b"`, possibly several per header. */
export function parseChallenges(values: string[]): Challenge[] {
  const out: Challenge[] = [];
  for (const value of values) {
    let i = 0;
    let current: Challenge | undefined;
    const skip = (chars: string) => {
      while (i < value.length && chars.includes(value[i]!)) i++;
    };
    while (i < value.length) {
      skip(" \t,");
      const start = i;
      while (i < value.length && !" \t,=".includes(value[i]!)) i++;
      const token = value.slice(start, i);
      if (!token) break;
      skip(" \t");
      if (value[i] !== "=" || !current) {
        current = { scheme: token.toLowerCase(), params: {} };
        out.push(current);
        continue;
      }
      i++;
      skip(" \t");
      let v = "";
      if (value[i] === '"') {
        for (i++; i < value.length && value[i] !== '"'; i++) v += value[i] === "\\" ? value[++i] ?? "" : value[i];
        i++;
      } else {
        const vs = i;
        while (i < value.length && value[i] !== ",") i++;
        v = value.slice(vs, i).trim();
      }
      current.params[token.toLowerCase()] = v;
    }
  }
  return out;
}

export interface Response {
  status: number;
  headers: Dispatcher.ResponseData["headers"];
  url: string;
  body: Dispatcher.ResponseData["body"];
}

interface RequestOptions {
  headers?: Record<string, string>;
  /** A replayable body (sent again after a 401 challenge) or a one-shot stream (sent once). */
  body?: Buffer | AsyncIterable<Buffer>;
  /** Statuses that are answers, not errors. */
  ok: number[];
  /** What the request is about, for messages (`blob sha256:… of models`). */
  what: string;
}

/**
 * One registry session: anonymous first; on 401 the `WWW-Authenticate` challenge decides Basic or a Bearer token
 * (asked for every scope of the session at once). `Authorization` goes only to the registry host and the token realm,
 * never across a redirect to another host. Retries network errors, 5xx and 429 (honouring Retry-After).
 */
export class RegistryClient {
  readonly base: string;
  private authorization: string | undefined;
  private readonly dispatcher: Dispatcher;
  /** Bytes sent in request bodies (the bench and the summary count them). */
  bytesSent = 0;

  constructor(private readonly options: RegistryClientOptions) {
    const loopback = isLoopback(options.host);
    this.base = `${loopback || options.insecure ? "http" : "https"}://${options.host}`;
    this.dispatcher = new Agent({ connections: 8, headersTimeout: 300_000, bodyTimeout: 300_000 });
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  url(path: string): string {
    return `${this.base}${path}`;
  }

  async request(method: Dispatcher.HttpMethod, url: string, options: RequestOptions): Promise<Response> {
    const replayable = options.body === undefined || Buffer.isBuffer(options.body);
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await this.send(method, url, options);
      } catch (error) {
        if (this.options.signal?.aborted || !replayable || attempt >= 4 || error instanceof RegistryError) throw wrapNetwork(error, options.what);
        await sleep(backoffDelay(attempt, { baseMs: 500, capMs: 8000 }), this.options.signal);
        continue;
      }
      if (res.status === 401 && attempt === 1) {
        const challenges = parseChallenges(headerValues(res.headers, "www-authenticate"));
        await res.body.dump();
        await this.authenticate(challenges, options.what);
        if (!replayable) throw new RegistryError(`${options.what}: the registry asked for credentials in the middle of an upload; run the command again`, { status: 401 });
        continue;
      }
      if (options.ok.includes(res.status)) return res;
      if (replayable && isRetryableStatus(res.status) && attempt < 4) {
        const wait = retryAfterMs(res.headers) ?? backoffDelay(attempt, { baseMs: 500, capMs: 8000 });
        await res.body.dump();
        await sleep(Math.min(wait, 60_000), this.options.signal);
        continue;
      }
      throw await registryFailure(res, options.what);
    }
  }

  private async send(method: Dispatcher.HttpMethod, url: string, options: RequestOptions): Promise<Response> {
    let current = url;
    let headers: Record<string, string> = { "user-agent": "download-models", ...options.headers };
    if (this.authorization && new URL(url).host === this.options.host) headers.authorization = this.authorization;
    for (let hop = 0; ; hop++) {
      const body = options.body;
      if (body !== undefined && !Buffer.isBuffer(body)) headers["content-type"] ??= "application/octet-stream";
      const res = await request(current, {
        method,
        headers,
        ...(body !== undefined ? { body: Buffer.isBuffer(body) ? body : Readable.from(body) } : {}),
        dispatcher: this.dispatcher,
        ...(this.options.signal ? { signal: this.options.signal } : {}),
      });
      const location = header(res.headers, "location");
      // Uploads answer with a Location too (202/201): only GET/HEAD redirects are followed.
      const redirect = (method === "GET" || method === "HEAD") && res.statusCode >= 300 && res.statusCode < 400 && res.statusCode !== 304 && location;
      if (!redirect) return { status: res.statusCode, headers: res.headers, url: current, body: res.body };
      await res.body.dump();
      ({ url: current, headers } = nextHop({ start: url, current, location, headers, hop }));
    }
  }

  private async authenticate(challenges: Challenge[], what: string): Promise<void> {
    const creds = this.options.credentials;
    const bearer = challenges.find((c) => c.scheme === "bearer");
    if (bearer?.params.realm) {
      this.authorization = `Bearer ${await this.token(bearer)}`;
      return;
    }
    if (challenges.some((c) => c.scheme === "basic")) {
      if (!creds || creds.identityToken) throw new RegistryError(`${what}: ${this.options.host} needs a user and password (docker login / podman login, or --registry-user with the password on stdin)`, { status: 401 });
      if (!this.base.startsWith("https:") && !isLoopback(this.options.host)) throw new RegistryError(`${what}: refusing to send a password over plain HTTP to ${this.options.host}`);
      this.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`;
      return;
    }
    throw new RegistryError(`${what}: ${this.options.host} answered 401 without a challenge this tool understands`, { status: 401 });
  }

  /** The token flow of Docker Hub, GHCR and distribution: GET <realm>?service=&scope=… (Basic when we have creds). */
  private async token(challenge: Challenge): Promise<string> {
    const { realm, service, scope } = challenge.params;
    const realmUrl = new URL(realm!);
    if (realmUrl.protocol !== "https:" && !isLoopback(realmUrl.host) && !this.options.insecure) {
      throw new RegistryError(`${this.options.host}: the token service ${realmUrl.origin} is not HTTPS; refusing (use --insecure only on a network you trust)`);
    }
    const scopes = [...new Set([...(scope ? scope.split(" ") : []), ...this.options.scopes])];
    const creds = this.options.credentials;
    if (creds?.identityToken) {
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: creds.identityToken, service: service ?? "", scope: scopes.join(" "), client_id: "download-models" });
      const res = await request(realmUrl, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form.toString(), dispatcher: this.dispatcher });
      if (res.statusCode === 200) return tokenOf(await res.body.json(), this.options.host);
      await res.body.dump();
      if (res.statusCode !== 404) throw new RegistryError(`${this.options.host}: the token service refused the stored identity token (${res.statusCode}); log in again`, { status: res.statusCode });
    }
    if (service) realmUrl.searchParams.set("service", service);
    for (const s of scopes) realmUrl.searchParams.append("scope", s);
    const headers: Record<string, string> = {};
    if (creds && !creds.identityToken) {
      headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`;
      realmUrl.searchParams.set("account", creds.username);
    }
    const res = await request(realmUrl, { method: "GET", headers, dispatcher: this.dispatcher, ...(this.options.signal ? { signal: this.options.signal } : {}) });
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new RegistryError(`${this.options.host}: the token service answered ${res.statusCode}${creds ? " (wrong user or password?)" : " (log in: docker login / podman login, or --registry-user)"}`, { status: res.statusCode });
    }
    return tokenOf(await res.body.json(), this.options.host);
  }
}

function tokenOf(json: unknown, host: string): string {
  const { token, access_token } = (json ?? {}) as { token?: string; access_token?: string };
  const t = token || access_token;
  if (!t) throw new RegistryError(`${host}: the token service answered without a token`);
  return t;
}

function headerValues(headers: Response["headers"], name: string): string[] {
  const v = headers[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function wrapNetwork(error: unknown, what: string): Error {
  if (error instanceof RegistryError) return error;
  const message = (error as Error)?.message ?? String(error);
  return new RegistryError(`${what}: ${message}`, { retryable: true }, { cause: error });
}

/** The registry's own error (`{"errors":[{code,message}]}`, or text), with what was being done. */
export async function registryFailure(res: Response, what: string): Promise<RegistryError> {
  let text = "";
  try {
    text = (await res.body.text()).slice(0, 2000);
  } catch {
    // the body only feeds the message
  }
  let code: string | undefined;
  let detail = text.trim();
  try {
    const errors = (JSON.parse(text) as { errors?: { code?: string; message?: string }[] }).errors ?? [];
    code = errors[0]?.code;
    detail = errors.map((e) => `${e.code}: ${e.message}`).join("; ");
  } catch {
    // not JSON: keep the text
  }
  const hint =
    res.status === 401 ? " (not logged in, or wrong credentials)" : res.status === 403 || code === "DENIED" ? " (no push or pull right on this repository)" : "";
  return new RegistryError(`${what}: the registry answered ${res.status}${detail ? ` ${detail}` : ""}${hint}`, { status: res.status, ...(code ? { code } : {}), retryable: isRetryableStatus(res.status) });
}
