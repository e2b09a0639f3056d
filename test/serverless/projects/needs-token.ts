import { defineProject } from "download-models/define";

export default defineProject({
  name: "ci-needs-token",
  description: "a private model, built without a token: the build must fail",
  models: [{ id: "dm-ci/private-extra" }],
});
