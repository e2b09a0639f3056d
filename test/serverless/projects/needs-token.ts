import type { ProjectConfig } from "../../../src/define.ts";

export default {
  name: "ci-needs-token",
  description: "a private model, built without a token: the build must fail",
  models: [{ id: "dm-ci/private-extra" }],
} satisfies ProjectConfig;
