import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Env } from "../store/index.ts";

/** A user and password (or token) for one registry; never printed, never written anywhere. */
export interface Credentials {
  username: string;
  password: string;
  /** An OAuth2 refresh token (`identitytoken` in config.json) instead of a password. */
  identityToken?: string;
}

interface AuthFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** The auth files to read, in order: podman's (REGISTRY_AUTH_FILE), Docker's (DOCKER_CONFIG), then the XDG ones. */
export function authFilePaths(env: Env): { path: string; legacy?: boolean }[] {
  const home = env.HOME || homedir();
  return [
    ...(env.REGISTRY_AUTH_FILE ? [{ path: env.REGISTRY_AUTH_FILE }] : []),
    { path: join(env.DOCKER_CONFIG || join(home, ".docker"), "config.json") },
    ...(env.XDG_RUNTIME_DIR ? [{ path: join(env.XDG_RUNTIME_DIR, "containers", "auth.json") }] : []),
    { path: join(env.XDG_CONFIG_HOME || join(home, ".config"), "containers", "auth.json") },
    { path: join(home, ".dockercfg"), legacy: true },
  ];
}

/** Docker Hub is stored under its v1 URL; other registries by host, maybe with a scheme or a path. */
function keysFor(host: string, repository: string): string[] {
  if (host === "registry-1.docker.io" || host === "docker.io" || host === "index.docker.io") {
    return [`docker.io/${repository}`, "https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"];
  }
  const parts = repository.split("/");
  const scoped = parts.map((_, i) => `${host}/${parts.slice(0, parts.length - i).join("/")}`);
  return [...scoped, host];
}

function normaliseKey(key: string): string {
  const bare = key.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
  return bare === "registry-1.docker.io" || bare === "docker.io" ? "index.docker.io" : bare;
}

function fromEntry(entry: { auth?: string; username?: string; password?: string; identitytoken?: string }): Credentials | undefined {
  if (entry.identitytoken) return { username: entry.username ?? "<token>", password: "", identityToken: entry.identitytoken };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  return undefined;
}

/** `docker-credential-<helper> get`: stdin the server, stdout `{Username, Secret}`; a missing helper is no answer. */
function runHelper(helper: string, server: string): Promise<Credentials | undefined> {
  return new Promise((resolvePromise) => {
    const child = execFile(`docker-credential-${helper}`, ["get"], { timeout: 10_000 }, (error, stdout) => {
      if (error) return resolvePromise(undefined);
      try {
        const { Username, Secret } = JSON.parse(stdout) as { Username?: string; Secret?: string };
        if (!Secret) return resolvePromise(undefined);
        resolvePromise(Username === "<token>" ? { username: "<token>", password: "", identityToken: Secret } : { username: Username ?? "", password: Secret });
      } catch {
        resolvePromise(undefined);
      }
    });
    child.stdin?.end(server);
  });
}

/** Credentials for a registry host from the usual files (and their credential helpers), or undefined. */
export async function lookupCredentials(host: string, repository: string, env: Env): Promise<Credentials | undefined> {
  const keys = keysFor(host, repository);
  for (const { path, legacy } of authFilePaths(env)) {
    let file: AuthFile;
    try {
      const parsed = JSON.parse(await readFile(path, "utf8")) as AuthFile & Record<string, unknown>;
      file = legacy ? { auths: parsed as AuthFile["auths"] } : parsed;
    } catch {
      continue;
    }
    const helperHost = keys.find((k) => file.credHelpers?.[k]) ?? keys.find((k) => file.credHelpers?.[normaliseKey(k)]);
    const helper = helperHost ? file.credHelpers?.[helperHost] : file.credsStore;
    if (helper) {
      const found = await runHelper(helper, keys.includes("https://index.docker.io/v1/") ? "https://index.docker.io/v1/" : host);
      if (found) return found;
    }
    const auths = file.auths ?? {};
    for (const key of keys) if (auths[key]) return fromEntry(auths[key]!);
    const wanted = new Set(keys.map(normaliseKey));
    for (const [key, entry] of Object.entries(auths)) if (wanted.has(normaliseKey(key))) return fromEntry(entry);
  }
  return undefined;
}
