import { defineProject } from "download-models/define";

// IndexTTS-2 and the auxiliary models it otherwise fetches on its first start (index-tts
// `ensure_models_available`): predeclared here so no cold start ever downloads ~3 GB.
export default defineProject({
  name: "tts",
  description: "IndexTTS-2 text-to-speech with its auxiliary models",
  source: "huggingface",
  models: [
    { id: "IndexTeam/IndexTTS-2" },
    // The repo holds the weights twice; transformers only loads the safetensors.
    { id: "facebook/w2v-bert-2.0", include: ["*.json", "model.safetensors"] },
    { id: "amphion/MaskGCT", include: ["semantic_codec/model.safetensors"] },
    { id: "funasr/campplus", include: ["campplus_cn_common.bin"] },
    { id: "nvidia/bigvgan_v2_22khz_80band_256x", include: ["config.json", "bigvgan_generator.pt"] },
  ],
});
