import { defineProject } from "download-models/define";

// The demo's own project: small repos that exist only on the embedded local hub (`npm run demo`).
// It shows the shapes a real project uses: a whole repo, a filtered one, a pinned tag, a gated repo, and a private
// ModelScope model with a dotted name.
export default defineProject({
  name: "demo",
  description: "small stand-in repos served by the embedded local hub",
  models: [
    { id: "download-models-demo/tiny-voice" },
    { id: "download-models-demo/multi-format", revision: "v1.0", include: ["*.json", "*.safetensors"] },
    { id: "download-models-demo/gated-speaker" },
    // Also declared by tts.ts: fetched once.
    { id: "funasr/campplus", include: ["campplus_cn_common.bin"] },
    { id: "download-models-demo/private_vad.v2", source: "modelscope", revision: "v2.0.1" },
  ],
});
