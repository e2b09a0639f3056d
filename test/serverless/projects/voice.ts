import { defineProject } from "download-models/define";

// Stand-ins served by the local hub in test/cli/serverless-image.test.ts. The image build loads these files from its
// staging folder, where no relative import would resolve: the package's own name does, inside the package.
export default defineProject({
  name: "ci-voice",
  description: "public models: a whole repo with a chunked 20 MB file, and a filtered tag",
  models: [
    { id: "dm-ci/tiny-voice" },
    { id: "dm-ci/multi-format", revision: "v1.0", include: ["*.json", "*.safetensors"] },
  ],
});
