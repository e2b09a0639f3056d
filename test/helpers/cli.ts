import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";

const BIN = join(import.meta.dirname, "..", "..", "bin", "download-models.js");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const cleanEnv = () =>
  Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(HF_|HUGGING|MODELSCOPE|RUNPOD_|DOWNLOAD_MODELS_|XDG_CACHE)/.test(k)));

/** Start the real CLI in a child process (clean environment plus `env`) and hand back the process. */
export function startCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { env: { ...cleanEnv(), ...env }, stdio: ["ignore", "pipe", "pipe"] });
}

/** Run the real CLI in a child process with a clean environment (no HF_*, no RUNPOD_*) plus `env`. */
export function runCli(args: string[], env: Record<string, string> = {}, cwd?: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...cleanEnv(), ...env }, cwd: cwd ?? process.cwd() });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 50_000);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/**
 * Run the CLI in this process: `main()` with the same clean environment plus `env`, output captured by line.
 * For tests of output and exit codes; crashes, signals and several processes need `runCli` / `startCli`.
 */
export async function runMain(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const { main } = await import("../../src/cli/main.ts");
  let stdout = "";
  let stderr = "";
  const io = { out: (line: string) => (stdout += line + "\n"), err: (line: string) => (stderr += line + "\n"), isTTY: false };
  const code = await main([process.execPath, BIN, ...args], io, { ...cleanEnv(), ...env });
  return { code, stdout, stderr };
}
