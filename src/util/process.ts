/**
 * True when no process `pid` runs on this machine (`kill(pid, 0)` says ESRCH). False when it runs, or when the
 * answer is anything else (EPERM: it runs under another user): only a sure "gone" counts.
 */
export function processIsGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}
