import { spawn } from "node:child_process";

/** One timed run of a client: wall time, CPU it used (user + sys, children included) and its peak RSS. */
export interface Sample {
  seconds: number;
  cpuSeconds: number;
  rssMb: number;
}

const MARK = "@@time";

/**
 * Run `cmd` under GNU time: `%M` is the "Maximum resident set size" of `time -v`, the largest single process of
 * the tree (getrusage of the children), and `%U`/`%S` add up every process it waited for.
 */
export function timed(cmd: string, argv: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const child = spawn("/usr/bin/time", ["-f", `${MARK} %e %U %S %M`, cmd, ...argv], {
      env: { ...process.env, ...env },
      ...(cwd ? { cwd } : {}),
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("exit", (code) => {
      const line = err.split("\n").findLast((l) => l.startsWith(MARK)) ?? "";
      const [secs, user, sys, kb] = line.slice(MARK.length).trim().split(" ").map(Number);
      if (code !== 0 || !Number.isFinite(secs)) return reject(new Error(`${cmd} failed (${code}): ${err.slice(-600)}`));
      resolve({ seconds: secs!, cpuSeconds: user! + sys!, rssMb: kb! / 1024 });
    });
  });
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
