import { defineDownloader } from "../src/define.ts";
import { HUGGINGFACE, huggingfaceEndpoint, listSnapshot } from "../src/sources/huggingface/api.ts";
import { huggingfaceError } from "../src/sources/huggingface/errors.ts";
import { endpointProblem } from "../src/net/endpoint.ts";
import { huggingfaceLocate, lockedSnapshot } from "../src/lockfile/diff.ts";

export default defineDownloader({
  name: "huggingface",
  aliases: ["hf"],
  layout: "huggingface",
  defaultRevision: "main",
  tokenEnv: ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"],
  checkEnv: (env) => endpointProblem("HF_ENDPOINT", env.HF_ENDPOINT),
  resolve(model, ctx) {
    const { token, dispatcher, signal, onWait } = ctx;
    return listSnapshot({ endpoint: huggingfaceEndpoint(ctx.env), token, dispatcher, signal, onWait }, model.id, model.revision);
  },
  fromLock(entry, ctx) {
    return lockedSnapshot(entry, huggingfaceLocate(huggingfaceEndpoint(ctx.env), ctx.token ? HUGGINGFACE.credentials(ctx.token) : undefined));
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
