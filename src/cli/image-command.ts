import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Env } from "../store/index.ts";
import { UsageError } from "../errors.ts";
import { formatBytes, formatSeconds, packageRoot } from "../util/index.ts";
import { loadSelection, usesProjects, type PluginDirs, type Selection } from "../select/index.ts";
import { findEntry } from "../lockfile/index.ts";
import { buildImage, runpodReferences, type Compression, type ImageEvent, type ImageOutput, type Platform } from "../image/index.ts";
import type { Output } from "./reporter.ts";
import type { ByteRate, CommandContext } from "./options.ts";
import { openLock, type LockfileOptions } from "./lockfile-use.ts";
import { interruptible } from "./interrupt.ts";
import { downloadCommand, type DownloadOptions } from "./download-command.ts";

export interface ImageCommandOptions extends Selection, PluginDirs, LockfileOptions {
  push?: string;
  output?: string;
  base?: string;
  platform?: string;
  compression?: string;
  registryUser?: string;
  insecure?: boolean;
  /** False with `--no-download`: build from what is on disk, fail on anything missing. */
  download?: boolean;
  runpodReferences?: boolean;
  note?: string[];
  root?: string;
  token?: string;
  frozen?: boolean;
  quiet?: boolean;
  concurrency?: number;
  connections?: number;
  maxRate?: ByteRate;
}

function parsePlatform(value: string | undefined): Platform {
  const [os, architecture, variant, extra] = (value ?? "linux/amd64").split("/");
  if (!os || !architecture || extra !== undefined) throw new UsageError(`--platform ${value}: expected OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64`);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/** `oci:DIR[:TAG]` (tag default latest). */
function parseLayout(value: string): { dir: string; tag: string } {
  if (!value.startsWith("oci:")) throw new UsageError(`--output ${value}: expected oci:DIR[:TAG] (an OCI image layout); to push, use --push REF`);
  const rest = value.slice(4);
  const colon = rest.lastIndexOf(":");
  const [dir, tag] = colon > 0 && !rest.slice(colon + 1).includes("/") ? [rest.slice(0, colon), rest.slice(colon + 1)] : [rest, "latest"];
  if (!dir) throw new UsageError(`--output ${value}: the directory is missing`);
  return { dir, tag };
}

async function readStdin(): Promise<string> {
  let text = "";
  for await (const chunk of process.stdin) text += chunk;
  return text.replace(/\r?\n$/, "");
}

function eventLine(event: ImageEvent): string | undefined {
  switch (event.type) {
    case "base":
      return `base   ${event.ref}@${event.digest} (${event.layers} layers)`;
    case "layer":
      return `layer  ${event.title}  ${event.digest}  ${formatBytes(event.size)}`;
    case "blob":
      return `${event.status.padEnd(8)}${event.title}  ${formatBytes(event.size)}`;
    case "bytes":
      return undefined;
  }
}

/**
 * `download-models image`: download what the selection lacks (same flags, lock and --frozen as a download), then
 * build the image of one layer per model and push it (only the blobs the registry lacks) or write an OCI layout.
 */
export async function imageCommand(options: ImageCommandOptions, cli: CommandContext, stdin: () => Promise<string> = readStdin): Promise<number> {
  const { io, env, redactor } = cli;
  if (options.runpodReferences) return printReferences(options, io, env);
  if (Boolean(options.push) === Boolean(options.output)) throw new UsageError("Say where the image goes: --push REGISTRY/REPO:TAG, or --output oci:DIR[:TAG] (an OCI image layout).");
  if (!usesProjects(options) && options.ids.length === 0) throw new UsageError("Nothing to put in the image: give model ids, --project NAME or --all.");
  const compression = (options.compression ?? "none") as Compression;
  if (compression !== "none" && compression !== "gzip") throw new UsageError(`--compression ${options.compression}: expected none (default) or gzip`);
  const platform = parsePlatform(options.platform);
  const base = options.base && options.base !== "none" ? options.base : undefined;
  if (options.registryUser && !options.push && !base) throw new UsageError("--registry-user is for --push (or a --base on a private registry)");

  let output: ImageOutput;
  if (options.push) {
    let credentials;
    if (options.registryUser) {
      const password = await stdin();
      if (!password) throw new UsageError("--registry-user: no password on standard input (e.g. printf %s \"$PASSWORD\" | download-models image … --registry-user USER)");
      redactor.add(password);
      credentials = { username: options.registryUser, password };
    }
    output = { kind: "registry", ref: options.push, ...(options.insecure ? { insecure: true } : {}), ...(credentials ? { credentials } : {}) };
  } else {
    output = { kind: "layout", ...parseLayout(options.output!) };
  }

  if (options.download !== false) {
    const download: DownloadOptions = {
      ids: options.ids,
      ...pick(options, ["all", "project", "source", "revision", "include", "exclude", "projectsDir", "downloadersDir", "lockfile", "root", "token", "frozen", "concurrency", "connections", "maxRate"]),
      quiet: true,
    };
    const code = await downloadCommand(download, cli);
    if (code !== 0) {
      io.err("download-models image: the download did not complete; no image was built");
      return code;
    }
  }
  const { registry, models, roots } = await loadSelection({ ...options, env, requireModels: true, requireRoots: true });
  const opened = options.lockfile || options.frozen ? await openLock(options, env) : await openLock(options, env).then((o) => (o.exists ? o : undefined));
  const version = (JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { version: string }).version;
  const notes = [`download-models ${version}`, `projects: ${usesProjects(options) ? (options.all ? "all" : (options.project ?? []).join(",")) : "(model ids)"}`, ...(options.note ?? [])];

  const line = "stopping the image; blobs already written or sent are kept (and not sent again), the tag is not moved: run the same command again";
  return interruptible(io, line, async (interrupt) => {
    const started = Date.now();
    const summary = await buildImage({
      models, registry, roots, env, output, platform, compression, notes,
      ...(opened ? { lock: opened.lock } : {}),
      ...(base ? { base } : {}),
      signal: interrupt.signal,
      onEvent: (e) => {
        const line = options.quiet ? undefined : eventLine(e);
        if (line) io.out(line);
      },
    });
    const seconds = (Date.now() - started) / 1000;
    const models_ = summary.layers.filter((l) => l.kind === "model").length;
    io.out(
      `Image ${summary.target}@${summary.digest}: ${models_} model layer${models_ === 1 ? "" : "s"}` +
        `${summary.base ? ` on ${summary.base.ref}` : " (models only)"}; ${summary.sent} blob${summary.sent === 1 ? "" : "s"} ${output.kind === "layout" ? "written" : "sent"}, ` +
        `${summary.reused} reused; ${formatBytes(summary.bytesSent)} ${output.kind === "layout" ? "written" : "sent"} in ${formatSeconds(seconds)}`,
    );
    if (opened) {
      const entries = models.map((m) => findEntry(opened.lock, m)).filter((e) => e !== undefined);
      for (const r of runpodReferences(entries)) if (r.reference) io.out(`RunPod model reference: ${r.reference}`);
    }
    return 0;
  });
}

/** `--runpod-references`: from the lock, what `runpodctl serverless create --model-reference` takes; no build. */
async function printReferences(options: ImageCommandOptions, io: Output, env: Env): Promise<number> {
  const opened = await openLock(options, env);
  if (!opened.exists) throw new UsageError(`${opened.path}: no lockfile; create it with download-models lock --all (RunPod references pin a commit)`);
  const selected = usesProjects(options) || options.ids.length > 0 ? (await loadSelection({ ...options, env, requireModels: true })).models : undefined;
  const entries = selected ? selected.map((m) => findEntry(opened.lock, m)).filter((e) => e !== undefined) : opened.lock.models;
  for (const r of runpodReferences(entries)) {
    if (r.reference) io.out(r.reference + (r.note ? `    # ${r.note}` : ""));
    else io.out(`# ${r.model}: ${r.note}`);
  }
  io.err("RunPod pre-caches these whole HuggingFace repositories at the pinned commit (runpodctl serverless create --model-reference REF); everything else must be in the image or on a network volume.");
  return 0;
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
