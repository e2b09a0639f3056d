import { defineDownloader } from "../src/define.ts";
import { huggingfaceError } from "../src/sources/huggingface/errors.ts";
import type { Env } from "../src/store/roots.ts";
import { endpointProblem } from "../src/net/endpoint.ts";
import { huggingfaceLocate, lockedSnapshot } from "../src/lockfile/diff.ts";

const DEFAULT_ENDPOINT = "https://huggingface.co";

/** `HF_ENDPOINT` is a full URL (mirrors, the local test hub); trailing slashes are ignored like huggingface_hub does. */
export function huggingfaceEndpoint(env: Env): string {
  return (env.HF_ENDPOINT || DEFAULT_ENDPOINT).replace(/\/+$/, "");
}

// Loaded when a model is resolved, not with the registry: the listing client pulls in @huggingface/hub.
const listingClient = () => import("../src/sources/huggingface/api.ts");

export default defineDownloader({
  name: "huggingface",
  aliases: ["hf"],
  layout: "huggingface",
  defaultRevision: "main",
  tokenEnv: ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"],
  checkEnv: (env) => endpointProblem("HF_ENDPOINT", env.HF_ENDPOINT),
  async resolve(model, ctx) {
    const { listSnapshot } = await listingClient();
    return listSnapshot(
      {
        endpoint: huggingfaceEndpoint(ctx.env),
        dispatcher: ctx.dispatcher,
        ...(ctx.token ? { token: ctx.token } : {}),
        ...(ctx.signal ? { signal: ctx.signal } : {}),
        ...(ctx.onWait ? { onWait: ctx.onWait } : {}),
      },
      model.id,
      model.revision,
    );
  },
  fromLock(entry, ctx) {
    return lockedSnapshot(entry, huggingfaceLocate(huggingfaceEndpoint(ctx.env), ctx.token ? { authorization: `Bearer ${ctx.token}` } : undefined));
  },
  describeError(response, model, { path, env, hasToken }) {
    return huggingfaceError(response, {
      repo: model.id,
      revision: model.revision,
      endpoint: huggingfaceEndpoint(env),
      hasToken,
      ...(path ? { path } : {}),
    });
  },
});
