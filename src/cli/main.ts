import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { DEFAULT_FILES, DEFAULT_CONNECTIONS } from "../defaults.ts";
import { DownloadModelsError } from "../errors.ts";
import { redact, registerSecret } from "../redact.ts";
import type { Env } from "../roots.ts";
import { packageRoot } from "./context.ts";
import type { Output } from "./reporter.ts";

const version = (JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { version: string }).version;

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`\`${name}\` must be an integer ≥ 1`);
    return n;
  };
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

function buildProgram(io: Output, env: Env, setCode: (code: number) => void): Command {
  const program = new Command("download-models")
    .description(
      "Download the models your projects declare (HuggingFace, ModelScope, custom sources) into verified, " +
        "offline-ready caches: a RunPod network volume in a Pod, the user cache elsewhere, or --root DIR.",
    )
    .version(version)
    .argument("[ids...]", "model ids (org/name), optionally prefixed with the source (hf:org/name) and suffixed with @revision")
    .option("-a, --all", "every model of every project")
    .option("-p, --project <names...>", "only these projects (repeatable, or comma-separated)")
    .option("-s, --source <name>", "source for ids without a prefix (huggingface, hf, modelscope, ms, or a custom downloader; default: modelscope for damo/, iic/, modelscope/, AI-ModelScope/ ids, else huggingface)")
    .option("-r, --revision <rev>", "branch, tag or commit for ids on the command line")
    .option("--include <patterns...>", "only files matching these fnmatch patterns (ids on the command line)")
    .option("--exclude <patterns...>", "skip files matching these patterns (ids on the command line)")
    .option("--root <dir>", "put everything under DIR: HF in DIR/huggingface/hub, ModelScope in DIR/modelscope")
    .option("--token <token>", "token for the hub (default: HF_TOKEN / MODELSCOPE_API_TOKEN); prefer the env var, argv is visible in ps")
    .option("-f, --force", "download again even when a complete copy is on disk")
    .option("-n, --dry-run", "show what would be downloaded and what is already complete; write nothing")
    .option("-c, --concurrency <n>", "files downloaded at once", positiveInt("--concurrency"), DEFAULT_FILES)
    .option("--connections <n>", "HTTP connections at once, shared by all files (big files use several)", positiveInt("--connections"), DEFAULT_CONNECTIONS)
    .option("--no-space-check", "do not refuse when the volume reports too little free space (for filesystems that misreport it)")
    .option("--json", "print newline-delimited JSON events on stdout, the summary last; nothing else")
    .option("-q, --quiet", "print only failures and the summary")
    .option("--projects-dir <dir>", "folder of project plugins (repeatable; default: the package's projects/)", collect)
    .option("--downloaders-dir <dir>", "folder of custom downloaders (repeatable; default: the package's downloaders/)", collect)
    .option("--verbose", "show stack traces of unexpected errors")
    .showHelpAfterError("(run download-models --help for usage)")
    .addHelpText(
      "after",
      [
        "",
        "Examples:",
        "  download-models --all                      every model of every project (in a Pod: onto the network volume)",
        "  download-models --project tts              only some projects",
        "  download-models list                       projects, models per source, what is complete on disk",
        "  download-models Qwen/Qwen2.5-0.5B --include '*.json' '*.safetensors'",
        "  download-models hf:org/a ms:org/b@v1.0     source prefixes and @revision",
        "  download-models iic/speech_campplus_sv_zh-cn_16k-common   damo/, iic/, modelscope/, AI-ModelScope/ ids go to ModelScope",
        "  download-models path ms:iic/speech_fsmn_vad_zh-cn-16k-common-pytorch   directory for pipeline(model=…)",
        "  download-models env                        env lines for consumers (HF_HOME, HF_HUB_OFFLINE, MODELSCOPE_CACHE)",
        "  download-models verify [--repair]          re-hash what is on the volume; re-download only bad files",
        "",
        "Exit codes: 0 all complete, 1 a model failed (the others still completed), 2 usage or configuration error.",
      ].join("\n"),
    )
    .configureOutput({ writeOut: (s) => io.out(redact(s.trimEnd())), writeErr: (s) => io.err(redact(s.trimEnd())) })
    .exitOverride()
    .action(async (ids: string[], opts) => {
      const { downloadCommand } = await import("./download-command.ts");
      setCode(await downloadCommand({ ...opts, ids }, io, env));
    });

  program
    .command("list")
    .description("projects, their models per source, and the deduplicated total; marks what is complete on disk")
    .option("--root <dir>", "root to check for completeness (as for downloads)")
    .option("--json", "print as JSON")
    .option("--projects-dir <dir>", "folder of project plugins (repeatable)", collect)
    .option("--downloaders-dir <dir>", "folder of custom downloaders (repeatable)", collect)
    .action(async (_opts, cmd: Command) => {
      const { listCommand } = await import("./list-command.ts");
      setCode(await listCommand(cmd.optsWithGlobals(), io, env));
    });

  program
    .command("verify")
    .description("re-hash the downloaded models against their manifests and report every missing or corrupt file")
    .argument("[ids...]", "models to check (default: every model this tool downloaded under the root)")
    .option("-a, --all", "every model of every project")
    .option("-p, --project <names...>", "the models of these projects")
    .option("--repair", "download again only the files found missing or corrupt")
    .option("--root <dir>", "as for downloads")
    .option("--token <token>", "token for --repair (default: HF_TOKEN / MODELSCOPE_API_TOKEN)")
    .option("--json", "print the result as JSON")
    .option("--projects-dir <dir>", "folder of project plugins (repeatable)", collect)
    .option("--downloaders-dir <dir>", "folder of custom downloaders (repeatable)", collect)
    .action(async (ids: string[], _opts, cmd: Command) => {
      const { verifyCommand } = await import("./verify-command.ts");
      setCode(await verifyCommand({ ...cmd.optsWithGlobals(), ids }, io, env));
    });

  program
    .command("path")
    .description("print the directory to pass to from_pretrained(dir) / pipeline(model=dir), one line per model (offline pods need it for ModelScope)")
    .argument("[ids...]", "model ids as for downloads (hf:/ms: prefix, @revision)")
    .option("-a, --all", "every model of every project")
    .option("-p, --project <names...>", "the models of these projects")
    .option("-s, --source <name>", "source for ids without a prefix")
    .option("-r, --revision <rev>", "revision for ids on the command line")
    .option("--root <dir>", "as for downloads")
    .option("--json", "print as JSON")
    .option("--projects-dir <dir>", "folder of project plugins (repeatable)", collect)
    .option("--downloaders-dir <dir>", "folder of custom downloaders (repeatable)", collect)
    .action(async (ids: string[], _opts, cmd: Command) => {
      const { pathCommand } = await import("./path-command.ts");
      setCode(await pathCommand({ ...cmd.optsWithGlobals(), ids }, io, env));
    });

  program
    .command("env")
    .description("the environment lines a consuming pod needs to load the downloaded models offline")
    .option("--root <dir>", "as for downloads")
    .option("--json", "print as JSON")
    .action(async (_opts, cmd: Command) => {
      const { envCommand } = await import("./env-command.ts");
      setCode(await envCommand(cmd.optsWithGlobals(), io, env));
    });
  return program;
}

/** Run the CLI; returns the exit code (0 ok, 1 a model failed, 2 usage or configuration error). */
export async function main(argv: string[], io: Output, env: Env = process.env): Promise<number> {
  let code = 0;
  registerSecret(env.HF_TOKEN);
  registerSecret(env.HUGGING_FACE_HUB_TOKEN);
  registerSecret(env.MODELSCOPE_API_TOKEN);
  const tokenAt = argv.findIndex((a) => a === "--token" || a.startsWith("--token="));
  if (tokenAt >= 0) registerSecret(argv[tokenAt]!.includes("=") ? argv[tokenAt]!.split("=")[1] : argv[tokenAt + 1]);
  const program = buildProgram(io, env, (c) => (code = c));
  try {
    await program.parseAsync(argv);
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof DownloadModelsError) {
      io.err(redact(`download-models: ${error.message}`));
      return error.exitCode;
    }
    const verbose = argv.includes("--verbose");
    io.err(redact(`download-models: unexpected error: ${(error as Error)?.message ?? String(error)}`));
    if (verbose && error instanceof Error && error.stack) io.err(redact(error.stack));
    else io.err("(run again with --verbose for the stack trace, and please report it)");
    return 1;
  }
}
