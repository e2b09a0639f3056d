import type { ProjectConfig } from "../../../src/define.ts";

// Stand-ins served by the local hub in test/serverless-image.test.ts. Plain objects with a type-only import: these
// files are also loaded from the image build's staging folder, where no relative runtime import would resolve.
export default {
  name: "ci-voice",
  description: "public models: a whole repo with a chunked 20 MB file, and a filtered tag",
  models: [
    { id: "dm-ci/tiny-voice" },
    { id: "dm-ci/multi-format", revision: "v1.0", include: ["*.json", "*.safetensors"] },
  ],
} satisfies ProjectConfig;
