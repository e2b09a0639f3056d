import { defineDownloader } from "../src/downloader.ts";
import { SourceUnavailableError } from "../src/errors.ts";

// The ModelScope protocol and its cache layout arrive with their own change; until then the source exists
// (projects that name it validate) but every model of it fails with this explanation, and the others go on.
export default defineDownloader({
  name: "modelscope",
  aliases: ["ms"],
  defaultRevision: "master",
  tokenEnv: ["MODELSCOPE_API_TOKEN"],
  resolve(model) {
    return Promise.reject(
      new SourceUnavailableError(
        `${model.id}: the modelscope source is not available in this version of download-models yet. ` +
          `Download it from a HuggingFace mirror with --source huggingface if one exists, or leave this project out with --project.`,
      ),
    );
  },
});
