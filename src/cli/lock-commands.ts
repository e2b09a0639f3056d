import type { Command } from "commander";
import { jsonOption, lockfileOption, pluginDirOptions, projectOptions, rootOption, tokenOption, type CommandContext } from "./options.ts";
import { volumeOptions } from "./volume-targets.ts";

// The commands of reproducible volumes: `lock`, `status`, `prune`; declared here so that main.ts only adds them.

export function addLockCommands(program: Command, cli: CommandContext, setCode: (code: number) => void): void {
  const { io, env, redactor } = cli;
  const lock = program
    .command("lock")
    .description("resolve the selection (no download) and write models.lock.json: the commit and every file's size and hashes; existing entries are kept, entries no project declares any more are dropped")
    .argument("[ids...]", "model ids as for downloads (default, with no --project/--all either: every project)")
    .option("--update [ids...]", "move these models (default: every selected one) to what their revision points to now, and print what changed")
    .option("--drop <ids...>", "remove the entries of these models pinned by id alone (entries of projects are dropped by every lock run once no project declares them)")
    .option("--check", "only check that the lock pins the selection as declared (as --frozen will) and nothing no project declares; no request, nothing written; exit 2 if not");
  projectOptions(lock);
  tokenOption(lockfileOption(lock), "token for the hub (default: HF_TOKEN / MODELSCOPE_API_TOKEN)", redactor);
  pluginDirOptions(jsonOption(lock, "print what changed as JSON")).action(async (ids: string[], _options, cmd: Command) => {
    const { lockCommand } = await import("./lock-command.ts");
    setCode(await lockCommand({ ...cmd.optsWithGlobals(), ids }, io, env));
  });

  const status = program
    .command("status")
    .description("per model: complete, partial, missing, other commit than locked, not locked; what nothing declares; space used and free (local reads only)");
  projectOptions(status, "only these projects (default: every project)");
  volumeOptions(status);
  pluginDirOptions(lockfileOption(jsonOption(rootOption(status), "print as JSON"))).action(async (_options, cmd: Command) => {
    if (cmd.optsWithGlobals().volume) {
      const { volumeStatusCommand } = await import("./volume-commands.ts");
      return setCode(await volumeStatusCommand(cmd.optsWithGlobals(), cli));
    }
    const { statusCommand } = await import("./status-command.ts");
    setCode(await statusCommand(cmd.optsWithGlobals(), io, env));
  });

  const prune = program
    .command("prune")
    .description("remove what no selected project and no lock entry needs; without --yes only prints it, path by path")
    .option("-y, --yes", "remove them")
    .option("--older-than <duration>", "partial downloads untouched this long are stale (e.g. 90m, 24h, 7d; default 24h)");
  projectOptions(prune, "keep these projects' models (default: every project)");
  volumeOptions(prune);
  pluginDirOptions(lockfileOption(jsonOption(rootOption(prune), "print the plan (or what was removed) as JSON"))).action(async (_options, cmd: Command) => {
    const { pruneCommand, parseDuration } = await import("./prune-command.ts");
    const options = cmd.optsWithGlobals();
    if (options.volume) {
      const { volumePruneCommand } = await import("./volume-commands.ts");
      return setCode(await volumePruneCommand({ ...options, ...(options.olderThan ? { olderThan: parseDuration(options.olderThan) } : {}) }, cli));
    }
    setCode(await pruneCommand({ ...options, ...(options.olderThan ? { olderThan: parseDuration(options.olderThan) } : {}) }, io, env));
  });
}
