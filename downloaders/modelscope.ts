import { defineDownloader } from "../src/define.ts";
import { listSnapshot, modelscopeEndpoint } from "../src/sources/modelscope/api.ts";
import { modelscopeError } from "../src/sources/modelscope/errors.ts";
import { endpointProblem } from "../src/net/endpoint.ts";

export default defineDownloader({
  name: "modelscope",
  aliases: ["ms"],
  layout: "modelscope",
  defaultRevision: "master",
  tokenEnv: ["MODELSCOPE_API_TOKEN"],
  checkEnv: (env) =>
    endpointProblem("MODELSCOPE_ENDPOINT", env.MODELSCOPE_ENDPOINT) ??
    (env.MODELSCOPE_ENDPOINT?.trim() ? undefined : endpointProblem("MODELSCOPE_DOMAIN", env.MODELSCOPE_DOMAIN && modelscopeEndpoint({ MODELSCOPE_DOMAIN: env.MODELSCOPE_DOMAIN }))),
  resolve(model, ctx) {
    const { token, dispatcher, signal, onWait } = ctx;
    return listSnapshot({ endpoint: modelscopeEndpoint(ctx.env), token, dispatcher, signal, onWait }, model.id, model.revision);
  },
  describeError(response, model, { path, hasToken }) {
    return modelscopeError(response, { repo: model.id, revision: model.revision, hasToken, ...(path ? { path } : {}) });
  },
});
