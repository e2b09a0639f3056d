import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../errors.ts";
import type { Redactor } from "../net/index.ts";
import type { S3Target } from "./target.ts";

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** Where they came from, for messages (never the values). */
  from: string;
}

export interface CredentialOptions {
  env: NodeJS.ProcessEnv;
  /** `--s3-profile`: a profile of the shared credentials file. */
  profile?: string;
  /** The run's redactor: the secrets found are hidden in everything printed from then on. */
  redactor?: Redactor;
}

/** The sections of an AWS shared credentials file: `[name]` then `key = value` lines. */
export function parseIni(text: string): Map<string, Record<string, string>> {
  const sections = new Map<string, Record<string, string>>();
  let current: Record<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[\s*(?:profile\s+)?([^\]]+?)\s*\]$/.exec(line);
    if (header) {
      current = {};
      sections.set(header[1]!, current);
      continue;
    }
    const eq = line.indexOf("=");
    if (current && eq > 0) current[line.slice(0, eq).trim().toLowerCase()] = line.slice(eq + 1).trim();
  }
  return sections;
}

function credentialsFile(env: NodeJS.ProcessEnv): string {
  return env.AWS_SHARED_CREDENTIALS_FILE || join(env.HOME || homedir(), ".aws", "credentials");
}

async function fromProfile(profile: string, env: NodeJS.ProcessEnv): Promise<S3Credentials> {
  const file = credentialsFile(env);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new UsageError(`--s3-profile ${profile}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)}).`, { cause: error });
  }
  const section = parseIni(text).get(profile);
  if (!section) throw new UsageError(`--s3-profile ${profile}: no [${profile}] section in ${file}.`);
  const accessKeyId = section.aws_access_key_id;
  const secretAccessKey = section.aws_secret_access_key;
  if (!accessKeyId || !secretAccessKey) {
    throw new UsageError(`--s3-profile ${profile}: [${profile}] in ${file} needs aws_access_key_id and aws_secret_access_key.`);
  }
  return { accessKeyId, secretAccessKey, ...(section.aws_session_token ? { sessionToken: section.aws_session_token } : {}), from: `profile ${profile} in ${file}` };
}

function fromRunpodEnv(env: NodeJS.ProcessEnv, target: S3Target): S3Credentials {
  const accessKeyId = env.RUNPOD_S3_ACCESS_KEY_ID;
  const secretAccessKey = env.RUNPOD_S3_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    const missing = [!accessKeyId && "RUNPOD_S3_ACCESS_KEY_ID", !secretAccessKey && "RUNPOD_S3_SECRET_ACCESS_KEY"].filter(Boolean).join(" and ");
    throw new UsageError(
      `--volume ${target.label} needs RunPod S3 API credentials: set ${missing} (RunPod console → Settings → S3 API Keys; ` +
        `the access key is your user id "user_…", the secret starts with "rps_"), or pass --s3-profile NAME. ` +
        `The machine's AWS credentials are never used for a RunPod volume.`,
    );
  }
  return { accessKeyId, secretAccessKey, from: "RUNPOD_S3_ACCESS_KEY_ID / RUNPOD_S3_SECRET_ACCESS_KEY" };
}

/**
 * Credentials for a target. RunPod volumes take RUNPOD_S3_* or `--s3-profile` only: the default AWS chain would
 * sign requests to RunPod with the user's real AWS keys. `s3://` targets return undefined unless a profile is
 * named, which leaves the SDK's standard chain in charge. Secrets are registered for redaction.
 */
export async function resolveCredentials(target: S3Target, options: CredentialOptions): Promise<S3Credentials | undefined> {
  let creds: S3Credentials | undefined;
  if (options.profile !== undefined) creds = await fromProfile(options.profile, options.env);
  else if (target.kind === "runpod") creds = fromRunpodEnv(options.env, target);
  if (creds) {
    options.redactor?.add(creds.secretAccessKey);
    options.redactor?.add(creds.sessionToken);
  }
  return creds;
}

/** Which setting a rejected key or secret came from, for error messages. */
export function credentialNames(creds: S3Credentials | undefined): { key: string; secret: string } {
  if (!creds) return { key: "the AWS access key id (AWS credential chain)", secret: "the AWS secret access key (AWS credential chain)" };
  if (creds.from.startsWith("profile ")) return { key: `aws_access_key_id of ${creds.from}`, secret: `aws_secret_access_key of ${creds.from}` };
  return { key: "RUNPOD_S3_ACCESS_KEY_ID", secret: "RUNPOD_S3_SECRET_ACCESS_KEY" };
}
