import { defineProject } from "download-models/define";

export default defineProject({
  name: "ci-unused",
  description: "never selected: must not be baked",
  models: [{ id: "dm-ci/not-baked" }],
});
