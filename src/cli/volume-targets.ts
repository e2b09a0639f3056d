import type { Command } from "commander";
import { UsageError } from "../errors.ts";
import type { Redactor } from "../util/index.ts";
import type { Env } from "../store/index.ts";
import type { S3Connection } from "../remote/index.ts";
import type { S3TargetError } from "../remote/index.ts";

/** The flags that send a command to volumes over S3 instead of a local root. */
export interface VolumeFlags {
  volume?: string[];
  s3Endpoint?: string;
  s3Profile?: string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** `--volume` (repeatable), `--s3-endpoint`, `--s3-profile`: declared once for every command that takes them. */
export function volumeOptions(command: Command): Command {
  return command
    .option("--volume <target>", "a RunPod network volume VOLUME_ID@DATACENTER (e.g. abc123xyz@EU-RO-1) or s3://BUCKET[/PREFIX], reached over S3 (repeatable)", collect)
    .option("--s3-endpoint <url>", "S3 endpoint for --volume instead of RunPod's (http or https; other S3 stores, tests)")
    .option("--s3-profile <name>", "credentials from this profile of ~/.aws/credentials (default for RunPod volumes: RUNPOD_S3_ACCESS_KEY_ID / RUNPOD_S3_SECRET_ACCESS_KEY)");
}

export interface OpenTargets {
  usable: S3Connection[];
  failures: S3TargetError[];
  close(): void;
}

export interface OpenOptions {
  env: Env;
  redactor: Redactor;
  /** Ends the check of the targets at once, and every request made through the connections afterwards. */
  signal?: AbortSignal;
  /** A line to print while targets have not answered yet. */
  onWaiting?: (line: string) => void;
}

/**
 * Parse, authenticate and check every `--volume` before anything else happens. Malformed values and missing
 * credentials throw UsageError (exit 2); unusable targets are returned, and none usable throws the first reason.
 * The SDK comes with remote/, which only `--volume` runs load (here, or through volume-run.ts): others never pay for it.
 */
export async function openTargets(flags: VolumeFlags, open: OpenOptions): Promise<OpenTargets> {
  const { env, redactor } = open;
  // The SDK warns once per process about Node < 22 on stderr; the CLI prints only its own lines.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const { parseVolume, resolveCredentials, connect, disconnect, checkTargets, partPlan } = await import("../remote/index.ts");
  const volumes = flags.volume ?? [];
  if (volumes.length === 0) throw new UsageError("--s3-endpoint, --s3-profile and --modelscope-compat go with --volume VOLUME_ID@DATACENTER or s3://BUCKET.");
  partPlan(0, env); // a bad DOWNLOAD_MODELS_S3_PART_MB fails now, not after the download
  const targets = volumes.map((v) => parseVolume(v, flags.s3Endpoint ? { endpoint: flags.s3Endpoint } : {}));
  const labels = new Set<string>();
  for (const t of targets) {
    const id = `${t.endpoint}|${t.bucket}|${t.prefix}`;
    if (labels.has(id)) throw new UsageError(`--volume ${t.label} is given twice.`);
    labels.add(id);
  }
  const conns: S3Connection[] = [];
  for (const target of targets) {
    const credentials = await resolveCredentials(target, { env: env as NodeJS.ProcessEnv, ...(flags.s3Profile ? { profile: flags.s3Profile } : {}), redactor });
    conns.push(connect(target, credentials, open.signal ? { signal: open.signal } : undefined));
  }
  const close = () => conns.forEach(disconnect);
  const onWaiting = open.onWaiting;
  const { usable, failures } = await checkTargets(conns, {
    ...(open.signal ? { signal: open.signal } : {}),
    ...(onWaiting
      ? { onWaiting: (pending, ms) => onWaiting(`  waiting for ${pending.map((p) => `${p.endpoint} (--volume ${p.label})`).join(", ")} to answer: ${Math.round(ms / 1000)} s so far, giving up after about 30 s…`) }
      : {}),
  }).catch((error: unknown) => {
    close();
    throw error;
  });
  if (usable.length === 0) {
    close();
    if (failures.length === 1) throw failures[0]!;
    throw new UsageError(["No --volume can be used:", ...failures.map((f) => `  ${f.message}`)].join("\n"));
  }
  return { usable, failures, close };
}
