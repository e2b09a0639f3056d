import { InvalidArgumentError, type Command } from "commander";
import type { Env } from "../store/index.ts";
import type { Redactor } from "../util/index.ts";
import type { Output } from "./reporter.ts";

// Options several commands share, declared once; a command adds the ones it takes.

/** What a command runs with besides its options: where its lines go, the environment, the redactor of tokens. */
export interface CommandContext {
  io: Output;
  env: Env;
  redactor: Redactor;
}

/** An integer from 1 to `max` (a sane bound: 99999 connections would only exhaust sockets and memory). */
export function positiveInt(name: string, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) {
      throw new InvalidArgumentError(max < Number.MAX_SAFE_INTEGER ? `\`${name}\` must be an integer from 1 to ${max}` : `\`${name}\` must be an integer ≥ 1`);
    }
    return n;
  };
}

/** Edit distance counting a swap of two neighbours as one edit ("lsit"), for "did you mean". */
export function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The subcommand a bare word is, or nearly is (one edit for short names, two for longer ones). */
export function nearCommand(word: string, commands: string[]): string | undefined {
  if (word.includes("/") || word.includes(":")) return undefined;
  const lower = word.toLowerCase();
  return commands.find((c) => distance(lower, c) <= (c.length <= 4 ? 1 : 2));
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function rootOption(command: Command, description = "as for downloads"): Command {
  return command.option("--root <dir>", description);
}

export function jsonOption(command: Command, description: string): Command {
  return command.option("--json", description);
}

/** `--projects-dir` and `--downloaders-dir`, both repeatable. */
export function pluginDirOptions(command: Command): Command {
  return command
    .option("--projects-dir <dir>", "folder of project plugins (repeatable; default: ./projects)", collect)
    .option("--downloaders-dir <dir>", "folder of custom downloaders (repeatable; default: ./downloaders)", collect);
}

/** `--lockfile FILE`, the same on every command that reads the lock (declared here: help never loads the lock code). */
export function lockfileOption(command: Command): Command {
  return command.option("--lockfile <file>", "the lockfile (default: models.lock.json beside the projects folder)");
}

/** `--all` and `--project`: which projects' models. */
export function projectOptions(command: Command, what = "the models of these projects"): Command {
  return command.option("-a, --all", "every model of every project").option("-p, --project <names...>", what);
}

/** `--token`: hidden in all output from the moment it is parsed (argv is visible in ps; prefer the env var). */
export function tokenOption(command: Command, description: string, redactor: Redactor): Command {
  return command.option("--token <token>", description, (value: string) => {
    redactor.add(value);
    return value;
  });
}

/** `--max-rate` parsed, and as the user wrote it: messages show `10M/s`, not a conversion into other units. */
export interface ByteRate {
  bytesPerSecond: number;
  text: string;
}

/** `--max-rate 200M`: bytes per second, with K, M, G as powers of 1024 (as aria2c and curl read them). */
export function byteRate(value: string): ByteRate {
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?(?:\/s)?$/i.exec(value.trim());
  const bytes = match ? Number(match[1]) * 1024 ** " kmg".indexOf((match[2] || " ").toLowerCase()) : NaN;
  if (!Number.isFinite(bytes) || bytes < 1024) {
    throw new InvalidArgumentError("`--max-rate` is bytes per second with K, M or G (powers of 1024), at least 1K: e.g. 500K, 200M, 1.5G");
  }
  return { bytesPerSecond: Math.round(bytes), text: value.trim().replace(/\/s$/i, "") };
}
