import type { ProjectConfig } from "../../../src/define.ts";

export default {
  name: "ci-gated",
  description: "a gated model: the build needs the token, the image must not contain it",
  models: [{ id: "dm-ci/gated-speaker" }],
} satisfies ProjectConfig;
