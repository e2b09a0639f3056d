import { InvalidArgumentError, type Command } from "commander";
import type { Redactor } from "../redact.ts";

// Options several commands share, declared once; a command adds the ones it takes.

export function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`\`${name}\` must be an integer ≥ 1`);
    return n;
  };
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
    .option("--projects-dir <dir>", "folder of project plugins (repeatable; default: the package's projects/)", collect)
    .option("--downloaders-dir <dir>", "folder of custom downloaders (repeatable; default: the package's downloaders/)", collect);
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
