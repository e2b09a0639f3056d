import type { ProjectConfig } from "../../../src/define.ts";

export default {
  name: "ci-unused",
  description: "never selected: must not be baked",
  models: [{ id: "dm-ci/not-baked" }],
} satisfies ProjectConfig;
