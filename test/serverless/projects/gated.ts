import { defineProject } from "download-models/define";

export default defineProject({
  name: "ci-gated",
  description: "a gated HuggingFace model and a private ModelScope one: the build needs both tokens, the image must contain neither",
  models: [{ id: "dm-ci/gated-speaker" }, { source: "modelscope", id: "dm-ci/sv_model.v2" }],
});
