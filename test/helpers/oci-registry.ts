import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readdir, stat } from "node:fs/promises";

/** Debian's reference registry (docker-registry), skopeo and umoci: the tests that need them skip without them. */
export function haveTools(...tools: string[]): boolean {
  return tools.every((t) => spawnSync("sh", ["-c", `command -v ${t}`]).status === 0);
}

export interface LocalRegistry {
  url: string;
  host: string;
  dir: string;
  /** Request log lines (method path status) parsed from the registry's access log. */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

export interface RegistryAuth {
  /** htpasswd line(s) (bcrypt): Basic auth. */
  htpasswd?: string;
  /** Token auth: realm URL, service, issuer, root certificate path. */
  token?: { realm: string; service: string; issuer: string; certPath: string };
}

/** Start `docker-registry serve` on 127.0.0.1 with its own config and storage; stopped by its PID. */
export async function startRegistry(auth: RegistryAuth = {}, opts: { relativeUrls?: boolean } = {}): Promise<LocalRegistry> {
  const dir = await mkdtemp(join(tmpdir(), "dm-registry-"));
  const port = await freePort();
  const lines = [
    "version: 0.1",
    "log: {level: warn, accesslog: {disabled: true}}",
    `storage: {filesystem: {rootdirectory: ${dir}/data}, delete: {enabled: true}}`,
    `http: {addr: "127.0.0.1:${port}", secret: test-secret${opts.relativeUrls ? ", relativeurls: true" : ""}}`,
  ];
  if (auth.htpasswd) {
    await writeFile(join(dir, "htpasswd"), auth.htpasswd);
    lines.push(`auth: {htpasswd: {realm: test-realm, path: ${dir}/htpasswd}}`);
  }
  if (auth.token) {
    const t = auth.token;
    lines.push(`auth: {token: {realm: "${t.realm}", service: ${t.service}, issuer: ${t.issuer}, rootcertbundle: ${t.certPath}}}`);
  }
  await writeFile(join(dir, "config.yml"), lines.join("\n") + "\n");
  const child = spawn("docker-registry", ["serve", join(dir, "config.yml")], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(`${url}/v2/`);
      if (res.status === 200 || res.status === 401) break;
    } catch {
      // not listening yet
    }
    if (i > 100 || child.exitCode !== null) throw new Error(`docker-registry did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    host: `127.0.0.1:${port}`,
    dir,
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await new Promise((r) => child.once("exit", r));
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Every blob file the registry stores (to scan for secrets and count what arrived). */
export async function storedBlobs(registryDir: string): Promise<string[]> {
  const root = join(registryDir, "data", "docker", "registry", "v2", "blobs", "sha256");
  const out: string[] = [];
  for (const a of await readdir(root).catch(() => [] as string[])) {
    for (const b of await readdir(join(root, a))) {
      const p = join(root, a, b, "data");
      if ((await stat(p).catch(() => undefined))?.isFile()) out.push(p);
    }
  }
  return out;
}

/**
 * A token service for the registry's Bearer flow (what Docker Hub and GHCR do): RS256 JWTs signed with a fresh
 * self-signed certificate (openssl), `pull` for anyone, `push` only with the right Basic credentials.
 */
export async function startTokenService(user: string, password: string): Promise<{ realm: string; service: string; issuer: string; certPath: string; tokens: string[]; close: () => Promise<void> }> {
  const { createServer: createHttp } = await import("node:http");
  const { createPrivateKey, sign, X509Certificate } = await import("node:crypto");
  const { readFile: read } = await import("node:fs/promises");
  const dir = await mkdtemp(join(tmpdir(), "dm-token-"));
  const r = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "2", "-subj", "/CN=test-issuer"]);
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  const key = createPrivateKey(await read(join(dir, "key.pem")));
  const der = new X509Certificate(await read(join(dir, "cert.pem"))).raw.toString("base64");
  const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");
  const tokens: string[] = [];
  const server = createHttp((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const authorized = req.headers.authorization === `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
    if (req.headers.authorization && !authorized) {
      res.writeHead(401).end();
      return;
    }
    const access = url.searchParams.getAll("scope").flatMap((s) => s.split(" ")).map((s) => {
      const [type, name, actions] = s.split(":");
      return { type, name, actions: (actions ?? "").split(",").filter((a) => a === "pull" || (a === "push" && authorized)) };
    });
    const now = Math.floor(Date.now() / 1000);
    const head = b64url(JSON.stringify({ typ: "JWT", alg: "RS256", x5c: [der] }));
    const claims = b64url(JSON.stringify({ iss: "test-issuer", sub: authorized ? user : "", aud: url.searchParams.get("service"), exp: now + 300, nbf: now - 10, iat: now, jti: String(Math.random()), access }));
    const jwt = `${head}.${claims}.${b64url(sign("sha256", Buffer.from(`${head}.${claims}`), key))}`;
    tokens.push(jwt);
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token: jwt, access_token: jwt, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const port = (server.address() as { port: number }).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service: "test-registry",
    issuer: "test-issuer",
    certPath: join(dir, "cert.pem"),
    tokens,
    close: () => new Promise<void>((ok) => server.close(() => rm(dir, { recursive: true, force: true }).then(() => ok()))),
  };
}
