import { InterruptedError } from "../errors.ts";
import type { Output } from "./reporter.ts";

type StopSignal = "SIGINT" | "SIGTERM";

/** The exit code of a run a signal stopped: 128 + the signal's number, as shells report it. */
export const exitCodeOf = (signal: StopSignal): number => (signal === "SIGTERM" ? 143 : 130);

/** One command's interrupt: the signal its work watches, and which OS signal (if any) fired it. */
export interface Interrupt {
  signal: AbortSignal;
  /** The OS signal that stopped the run, once one did. */
  by: StopSignal | undefined;
}

/**
 * The one interrupt path of every command that moves or removes bytes. The first SIGINT/SIGTERM prints `line`
 * (what stops, what is kept) and aborts the signal the command's work watches: the command still prints its
 * summary, then exits 130 (SIGINT) or 143 (SIGTERM). A second signal quits at once, with the exit code of the first
 * and a line saying so: every command writes under temporary names and renames, so skipping the cleanup (closing
 * connections, taking a holder record off a volume, the summary) leaves nothing half-written under a final name.
 */
export async function interruptible(io: Output, line: string, run: (interrupt: Interrupt) => Promise<number>): Promise<number> {
  const controller = new AbortController();
  const state: Interrupt = { signal: controller.signal, by: undefined };
  const onSignal = (signal: StopSignal) => {
    if (state.by) {
      io.err(`Interrupted again (${signal}): quitting at once without cleanup; nothing half-written is under a final name, the same command picks up from there.`);
      process.exit(exitCodeOf(state.by));
    }
    state.by = signal;
    io.err(`Interrupted (${signal}): ${line}; press Ctrl-C again to quit at once.`);
    controller.abort(new InterruptedError(`interrupted (${signal}): ${line}`, signal));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const code = await run(state);
    return state.by ? exitCodeOf(state.by) : code;
  } catch (error) {
    // Work cut short by the signal throws whatever was in flight (an abort, a socket error): the line said it all.
    if (!state.by) throw error;
    return exitCodeOf(state.by);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
