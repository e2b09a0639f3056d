import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";

type HomeEnv = { HOME?: string | undefined; XDG_CACHE_HOME?: string | undefined };

/** `~` or `~/…` in a value from the environment (shells leave a quoted `~` alone). */
export function expandHome(path: string, env: HomeEnv): string {
  return path === "~" || path.startsWith("~/") ? join(env.HOME || homedir(), path.slice(1)) : path;
}

/** The user cache: `$XDG_CACHE_HOME` (a relative value is ignored, as the XDG spec says), else `~/.cache`. */
export function userCacheDir(env: HomeEnv): string {
  const xdg = env.XDG_CACHE_HOME ? expandHome(env.XDG_CACHE_HOME, env) : "";
  return isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), ".cache");
}
