import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Command, CommanderError } from "commander";
import { DEFAULT_CONNECTIONS, DEFAULT_FILES } from "../util/index.ts";
import { DownloadModelsError, UsageError } from "../errors.ts";
import { createRedactor, type Redactor } from "../util/index.ts";
import type { Env } from "../store/index.ts";
import { packageRoot } from "../util/index.ts";
import { byteRate, jsonOption, type CommandContext, lockfileOption, nearCommand, pluginDirOptions, positiveInt, projectOptions, rootOption, tokenOption } from "./options.ts";
import type { Output } from "./reporter.ts";
import { addLockCommands } from "./lock-commands.ts";
import { volumeOptions } from "./volume-targets.ts";

const version = (JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { version: string }).version;

const EXAMPLES = [
  "",
  "Examples:",
  "  download-models init                       a starter project file in ./projects (your own repository)",
  "  download-models --all                      every model of every project (in a Pod: onto the network volume)",
  "  download-models --project tts              only some projects",
  "  download-models list                       projects, models per source, what is complete on disk",
  "  download-models Qwen/Qwen2.5-0.5B --include '*.json' '*.safetensors'",
  "  download-models hf:org/a ms:org/b@v1.0     source prefixes and @revision",
  "  download-models iic/speech_campplus_sv_zh-cn_16k-common   damo/, iic/, modelscope/, AI-ModelScope/ ids go to ModelScope",
  "  download-models path ms:iic/speech_fsmn_vad_zh-cn-16k-common-pytorch   directory for pipeline(model=…)",
  "  download-models env                        env lines for consumers (HF_HUB_CACHE, HF_HUB_OFFLINE, MODELSCOPE_CACHE)",
  "  download-models verify [--repair]          re-hash what is on the volume; re-download only bad files",
  "  download-models lock --all                 pin every model's commit and file hashes in models.lock.json",
  "  download-models --all --frozen             download exactly what the lock pins (CI, image builds)",
  "  download-models status | prune [--yes]     what the volume holds against the lock; remove what nothing needs",
  "  download-models --all --volume abc123xyz@EU-RO-1 --volume def456uvw@US-KS-2   fill network volumes over S3, no Pod",
  "  download-models link                       once, in a Pod or worker: add the links S3 cannot create",
  "  download-models bake --from DIR --to DIR --all   copy complete models into an image root (Dockerfile.serverless)",
  "  download-models image --all --push ghcr.io/you/models:v1   one layer per model; pushes only what the registry lacks",
  "  download-models serve --host 0.0.0.0 --token-file mirror.token   serve the volume to other machines (HF_ENDPOINT=http://pod:8765)",
  "",
  "Exit codes: 0 all complete, 1 a model failed (the others still completed), 2 usage or configuration error.",
].join("\n");

/** The download command itself: the program's own arguments and options. */
function downloadProgram(io: Output, redactor: Redactor): Command {
  const program = new Command("download-models")
    .description(
      "Download the models your projects declare (HuggingFace, ModelScope, custom sources) into verified, " +
        "offline-ready caches: a RunPod network volume in a Pod, the user cache elsewhere, or --root DIR.",
    )
    .version(version)
    .argument("[ids...]", "model ids (org/name), optionally prefixed with the source (hf:org/name) and suffixed with @revision");
  projectOptions(program, "only these projects (repeatable, or comma-separated)")
    .option("-s, --source <name>", "source for ids without a prefix (huggingface, hf, modelscope, ms, or a custom downloader; default: modelscope for damo/, iic/, modelscope/, AI-ModelScope/ ids, else huggingface)")
    .option("-r, --revision <rev>", "branch, tag or commit for ids on the command line")
    .option("--include <patterns...>", "only files matching these fnmatch patterns (ids on the command line)")
    .option("--exclude <patterns...>", "skip files matching these patterns (ids on the command line)")
    .option("--local-dir <dir>", "put the one model id's files in DIR as a plain folder (no cache layout), like hf download --local-dir; still verified and resumable");
  rootOption(program, "put everything under DIR: HF in DIR/huggingface/hub, ModelScope in DIR/modelscope");
  tokenOption(program, "token for the hub (default: HF_TOKEN / MODELSCOPE_API_TOKEN); prefer the env var, argv is visible in ps", redactor)
    .option("-f, --force", "download again even when a complete copy is on disk")
    .option("-n, --dry-run", "show what would be downloaded and what is already complete; write nothing")
    .option("-c, --concurrency <n>", "files downloaded at once (1–1024)", positiveInt("--concurrency", 1024), DEFAULT_FILES)
    .option("--connections <n>", "HTTP connections at once, shared by all files (big files use several; 1–256)", positiveInt("--connections", 256), DEFAULT_CONNECTIONS)
    .option("--max-rate <rate>", "bandwidth cap for the whole run, all connections together (e.g. 200M, 1.5G bytes per second; K/M/G are powers of 1024)", byteRate)
    .option("--no-space-check", "do not refuse when the volume reports too little free space (for filesystems that misreport it)");
  jsonOption(program, "print newline-delimited JSON events on stdout, the summary last; nothing else").option("-q, --quiet", "print only failures and the summary");
  volumeOptions(program).option("--modelscope-compat <mode>", "with --volume: \"copy\" uploads full copies where modelscope 1.12–1.22 look (+100 % storage per copy)");
  lockfileOption(pluginDirOptions(program))
    .option("--frozen", "follow models.lock.json exactly (CI, image builds): refuse, before any request, a model it lacks or pins otherwise; never write it")
    .option("--verbose", "a line per finished file off a terminal, and stack traces of unexpected errors")
    .showHelpAfterError("(run download-models --help for usage)")
    .addHelpText("after", EXAMPLES)
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride()
    // Options go with the command they belong to: `verify --connections 3` is refused, not silently ignored.
    .enablePositionalOptions();
  return program;
}

function buildProgram(cli: CommandContext, setCode: (code: number) => void): Command {
  const { io, env, redactor } = cli;
  const program = downloadProgram(io, redactor).action(async (ids: string[], options) => {
    if (options.volume || options.s3Endpoint || options.s3Profile || options.modelscopeCompat) {
      const { volumeRun } = await import("./volume-run.ts");
      return setCode(await volumeRun({ ...options, ids }, cli));
    }
    const { downloadCommand } = await import("./download-command.ts");
    setCode(await downloadCommand({ ...options, ids }, cli));
  });

  const list = program.command("list").description("projects, their models per source, and the deduplicated total; marks what is complete on disk");
  rootOption(list, "root to check for completeness (as for downloads)");
  volumeOptions(list);
  pluginDirOptions(jsonOption(list, "print as JSON")).action(async (_options, cmd: Command) => {
    if (cmd.optsWithGlobals().volume) {
      const { volumeListCommand } = await import("./volume-commands.ts");
      return setCode(await volumeListCommand(cmd.optsWithGlobals(), cli));
    }
    const { listCommand } = await import("./list-command.ts");
    setCode(await listCommand(cmd.optsWithGlobals(), io, env));
  });

  const verify = program
    .command("verify")
    .description("re-hash the downloaded models against their manifests and report every missing or corrupt file")
    .argument("[ids...]", "models to check (default: every model this tool downloaded under the root)");
  projectOptions(verify).option("--repair", "download again only the files found missing or corrupt");
  tokenOption(rootOption(verify), "token for --repair (default: HF_TOKEN / MODELSCOPE_API_TOKEN)", redactor);
  volumeOptions(verify);
  // The top help documents --verbose for every command that may hit an unexpected error.
  verify.option("--verbose", "stack traces of unexpected errors");
  pluginDirOptions(jsonOption(verify, "print the result as JSON")).action(async (ids: string[], _options, cmd: Command) => {
    if (cmd.optsWithGlobals().volume) {
      const { volumeVerifyCommand } = await import("./volume-commands.ts");
      return setCode(await volumeVerifyCommand({ ...cmd.optsWithGlobals(), ids }, cli));
    }
    const { verifyCommand } = await import("./verify-command.ts");
    setCode(await verifyCommand({ ...cmd.optsWithGlobals(), ids }, cli));
  });

  const path = program
    .command("path")
    .description("print the directory to pass to from_pretrained(dir) / pipeline(model=dir), one line per model (offline pods need it for ModelScope)")
    .argument("[ids...]", "model ids as for downloads (hf:/ms: prefix, @revision)");
  projectOptions(path)
    .option("-s, --source <name>", "source for ids without a prefix")
    .option("-r, --revision <rev>", "revision for ids on the command line")
    .option("--local-dir <dir>", "the folder the model was downloaded to with --local-dir");
  pluginDirOptions(jsonOption(rootOption(path), "print as JSON")).action(async (ids: string[], _options, cmd: Command) => {
    const { pathCommand } = await import("./path-command.ts");
    setCode(await pathCommand({ ...cmd.optsWithGlobals(), ids }, io, env));
  });

  const envCmd = program.command("env").description("the environment lines a consuming pod needs to load the downloaded models offline");
  envCmd.option("--lock", "also the commit each model of models.lock.json is pinned at (revision= for consumers)");
  pluginDirOptions(lockfileOption(jsonOption(rootOption(envCmd), "print as JSON"))).action(async (_options, cmd: Command) => {
    const { envCommand } = await import("./env-command.ts");
    setCode(await envCommand(cmd.optsWithGlobals(), io, env));
  });

  const link = program
    .command("link")
    .description("in a Pod or worker that mounts a volume filled over S3 (--volume): add the links S3 cannot create (ModelScope compat links); seconds, no downloads");
  pluginDirOptions(jsonOption(rootOption(link, "the volume's model root (default: /workspace/models in a Pod, /runpod-volume/models in a worker)"), "print as JSON")).action(async (_options, cmd: Command) => {
    const { linkCommand } = await import("./link-command.ts");
    setCode(await linkCommand(cmd.optsWithGlobals(), io, env));
  });

  const bake = program
    .command("bake")
    .description("copy the selected projects' models, complete, from a download root to an image root, with the records download-models-check reads")
    .requiredOption("--from <dir>", "the root the models were downloaded to (download-models --root DIR)")
    .requiredOption("--to <dir>", "the image's model root (e.g. /models); receives only the selected models");
  projectOptions(bake).option("--note <text>", "a line for the header of baked.txt (repeatable)", (value: string, previous: string[] = []) => [...previous, value]);
  pluginDirOptions(lockfileOption(bake)).action(async (_options, cmd: Command) => {
    const { bakeCommand } = await import("./bake-command.ts");
    setCode(await bakeCommand(cmd.optsWithGlobals(), io, env));
  });
  const init = program
    .command("init")
    .description("write a starter project file (default: ./projects/<folder name>.ts) and print the commands that come next")
    .argument("[ids...]", "models to declare in it (org/name, hf:/ms: prefix, @revision)")
    .option("--name <name>", "the project's name (default: the working directory's name)");
  pluginDirOptions(init).action(async (ids: string[], _options, cmd: Command) => {
    const { initCommand } = await import("./init-command.ts");
    setCode(await initCommand({ ...cmd.optsWithGlobals(), ids }, io, env));
  });
  const image = program
    .command("image")
    .description("build an OCI image of one reproducible layer per model (+ records, on a base or none) and push only what the registry lacks, or write an OCI layout; no container daemon")
    .argument("[ids...]", "model ids as for downloads (hf:/ms: prefix, @revision)")
    .option("--push <ref>", "push to this registry reference (registry/repo:tag; docker.io when no registry is named)")
    .option("--output <target>", "write an OCI image layout instead: oci:DIR[:TAG] (for air-gapped transfer)")
    .option("--base <ref>", "base image pulled from its registry (your worker image), or none: only the models (default: none)")
    .option("--platform <os/arch>", "platform of the base to use and of a models-only image (default: linux/amd64)")
    .option("--compression <type>", "model layers: none (default; weights do not compress, every runtime pulls it) or gzip")
    .option("--registry-user <user>", "log in as USER with the password read from standard input (else ~/.docker/config.json, REGISTRY_AUTH_FILE)")
    .option("--insecure", "allow plain HTTP to a registry that is not on this machine")
    .option("--no-download", "do not download what is missing: fail instead")
    .option("--note <text>", "a line for the header of the image's baked.txt (repeatable)", (value: string, previous: string[] = []) => [...previous, value])
    .option("--runpod-references", "print the locked HuggingFace models as RunPod model references (https://huggingface.co/ORG/NAME:COMMIT) and exit");
  projectOptions(image)
    .option("-s, --source <name>", "source for ids without a prefix")
    .option("-r, --revision <rev>", "revision for ids on the command line")
    .option("--include <patterns...>", "only files matching these patterns (ids on the command line)")
    .option("--exclude <patterns...>", "skip files matching these patterns (ids on the command line)")
    .option("--frozen", "download exactly what models.lock.json pins (as for downloads)")
    .option("-q, --quiet", "print only failures and the summary")
    .option("-c, --concurrency <n>", "files downloaded at once (1–1024)", positiveInt("--concurrency", 1024))
    .option("--connections <n>", "HTTP connections at once for the download (1–256)", positiveInt("--connections", 256));
  tokenOption(rootOption(image, "where the models are downloaded and read from (as for downloads)"), "token for the hub (default: HF_TOKEN / MODELSCOPE_API_TOKEN)", redactor);
  pluginDirOptions(lockfileOption(image)).action(async (ids: string[], _options, cmd: Command) => {
    const { imageCommand } = await import("./image-command.ts");
    setCode(await imageCommand({ ...cmd.optsWithGlobals(), ...cmd.opts(), ids }, cli));
  });
  const serve = program
    .command("serve")
    .description("serve the complete models of the root to other machines over the HuggingFace and ModelScope protocols (clients set HF_ENDPOINT / MODELSCOPE_ENDPOINT)")
    .option("--host <host>", "address to listen on (other machines need 0.0.0.0; then set a token)", "127.0.0.1")
    .option("--port <n>", "port to listen on (0: any free port)", (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--port must be 0-65535, not ${JSON.stringify(v)}`);
      return n;
    }, 8765)
    .option("--lockfile <file>", "serve exactly the revisions this lockfile pins, nothing else")
    .option("--upstream <url>", "pull-through: fetch HuggingFace misses from this hub (e.g. https://huggingface.co), verify, store, then serve")
    .option("--modelscope-upstream <url>", "pull-through for ModelScope (e.g. https://www.modelscope.cn)")
    .option("--upstream-allow <globs...>", "pull-through only for repos matching these patterns (e.g. 'Qwen/*')")
    .option("--allow-private", "pull-through with this server's HF_TOKEN / MODELSCOPE_API_TOKEN: gated and private repos it can read are served to every client")
    .option("--token-file <file>", "clients must send one of the tokens in FILE (one a line) as HF_TOKEN / MODELSCOPE_API_TOKEN; a missing FILE gets a new token")
    .option("--public-url <url>", "base URL clients reach this server at (behind a reverse proxy), for the absolute links it sends")
    .option("-q, --quiet", "no access log lines");
  jsonOption(rootOption(serve, "the root to serve (as for downloads)"), "log newline-delimited JSON events").action(async (_options, cmd: Command) => {
    const { serveCommand } = await import("./serve-command.ts");
    setCode(await serveCommand(cmd.optsWithGlobals(), io, env));
  });
  addLockCommands(program, cli, setCode);
  return program;
}

/** Run the CLI; returns the exit code (0 ok, 1 a model failed, 2 usage or configuration error). */
export async function main(argv: string[], rawIo: Output, env: Env = process.env): Promise<number> {
  let code = 0;
  // One redactor per invocation: tokens from the environment and from flags are hidden in every line printed.
  const redactor = createRedactor([env.HF_TOKEN, env.HUGGING_FACE_HUB_TOKEN, env.MODELSCOPE_API_TOKEN, env.RUNPOD_S3_SECRET_ACCESS_KEY]);
  const io: Output = { ...rawIo, out: (line) => rawIo.out(redactor.redact(line)), err: (line) => rawIo.err(redactor.redact(line)) };
  const program = buildProgram({ io, env, redactor }, (c) => (code = c));
  const commands = program.commands.map((c) => c.name());
  try {
    // `help` and `help <command>` show help; a bare word that is (nearly) a command name is never a model id.
    const first = argv.slice(2).find((a) => !a.startsWith("-"));
    if (argv[2] === "help") {
      const target = program.commands.find((c) => c.name() === argv[3]);
      // `help bogus` would show the top help and exit 0: a typo in a script would pass unnoticed.
      if (argv[3] !== undefined && !argv[3].startsWith("-") && !target) {
        const near = nearCommand(argv[3], commands);
        throw new UsageError(`help ${argv[3]}: no such command${near ? `; did you mean \`download-models help ${near}\`?` : ""}. Commands: ${commands.join(", ")}.`);
      }
      (target ?? program).outputHelp();
      return 0;
    }
    if (first !== undefined && !commands.includes(first)) {
      const near = nearCommand(first, [...commands, "help"]);
      if (near) throw new UsageError(`"${first}" is not a model id: did you mean \`download-models ${near}\`? (Run download-models --help; a model id is org/name.)`);
    }
    await program.parseAsync(argv);
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof DownloadModelsError) {
      io.err(`download-models: ${error.message}`);
      return error.exitCode;
    }
    io.err(`download-models: unexpected error: ${(error as Error)?.message ?? String(error)}`);
    if (argv.includes("--verbose") && error instanceof Error && error.stack) io.err(error.stack);
    else io.err("(run again with --verbose for the stack trace, and please report it)");
    return 1;
  }
}
