import { defineDownloader } from "../src/downloader.ts";
import { listSnapshot, modelscopeEndpoint } from "../src/modelscope/api.ts";
import { modelscopeError } from "../src/modelscope/errors.ts";

export default defineDownloader({
  name: "modelscope",
  aliases: ["ms"],
  layout: "modelscope",
  defaultRevision: "master",
  tokenEnv: ["MODELSCOPE_API_TOKEN"],
  resolve(model, ctx) {
    return listSnapshot(
      {
        endpoint: modelscopeEndpoint(ctx.env),
        dispatcher: ctx.dispatcher,
        ...(ctx.token ? { token: ctx.token } : {}),
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      },
      model.id,
      model.revision,
    );
  },
  describeError(response, model, { path, hasToken }) {
    return modelscopeError(response, { repo: model.id, revision: model.revision, hasToken, ...(path ? { path } : {}) });
  },
});
