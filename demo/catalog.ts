import { makeRepo, type HubRepo } from "@download-models/local-hub";

const KB = 1000;
const MB = 1000 * 1000;
const json = (o: unknown) => JSON.stringify(o, null, 2) + "\n";

/** A ModelScope speech model stand-in: configuration.json, the weights, and the usual side files. */
function msSpeechModel(id: string, task: string, weights: string, size: number, extra: Record<string, unknown> = {}): HubRepo {
  return makeRepo({
    source: "modelscope",
    id,
    tags: ["v2.0.2"],
    files: [
      { path: ".gitattributes", text: "*.pt filter=lfs diff=lfs merge=lfs -text\n*.bin filter=lfs diff=lfs merge=lfs -text\n" },
      { path: "README.md", text: `# ${id} (local stand-in)\n` },
      { path: "configuration.json", text: json({ framework: "pytorch", task, model: { type: task }, ...extra }) },
      { path: weights, size },
      { path: "examples/example.wav", size: 160 * KB, lfs: true },
    ],
  });
}

/**
 * Small stand-ins, with realistic file names, for every model the shipped projects and the demo project declare,
 * on both hubs. Sizes are scaled down (MB instead of GB) so the demo runs in seconds.
 */
export function demoRepos(): HubRepo[] {
  return [
    makeRepo({
      id: "IndexTeam/IndexTTS-2",
      files: [
        { path: ".gitattributes", text: "*.pth filter=lfs diff=lfs merge=lfs -text\n" },
        { path: "README.md", text: "# IndexTTS-2 (local stand-in)\n" },
        { path: "config.yaml", text: "gpt:\n  model_dim: 1280\ns2mel:\n  preprocess_params: {sr: 22050}\n" },
        { path: "gpt.pth", size: 48 * MB }, // big enough for parallel ranges and byte-level resume
        { path: "s2mel.pth", size: 1.2 * MB },
        { path: "bpe.model", size: 470 * KB, lfs: true },
        { path: "feat1.pt", size: 80 * KB },
        { path: "feat2.pt", size: 80 * KB },
        { path: "wav2vec2bert_stats.pt", size: 9 * KB },
        { path: "qwen0.6bemo4-merge/config.json", text: json({ architectures: ["Qwen3ForCausalLM"], hidden_size: 1024 }) },
        { path: "qwen0.6bemo4-merge/model.safetensors", size: 1.2 * MB },
        { path: "qwen0.6bemo4-merge/tokenizer.json", size: 110 * KB, lfs: false },
      ],
    }),
    makeRepo({
      id: "facebook/w2v-bert-2.0",
      files: [
        { path: "README.md", text: "# w2v-BERT 2.0 (local stand-in)\n" },
        { path: "config.json", text: json({ model_type: "wav2vec2-bert", hidden_size: 1024 }) },
        { path: "preprocessor_config.json", text: json({ feature_size: 80, sampling_rate: 16000 }) },
        { path: "model.safetensors", size: 2.3 * MB },
        { path: "conformer_shaw.pt", size: 2.3 * MB },
      ],
    }),
    makeRepo({
      id: "amphion/MaskGCT",
      files: [
        { path: "README.md", text: "# MaskGCT (local stand-in)\n" },
        { path: "semantic_codec/model.safetensors", size: 1.7 * MB },
        { path: "acoustic_codec/model.safetensors", size: 1.6 * MB },
        { path: "t2s_model/model.safetensors", size: 1.5 * MB },
      ],
    }),
    makeRepo({
      id: "funasr/campplus",
      files: [
        { path: "README.md", text: "# CAM++ (local stand-in)\n" },
        { path: "config.yaml", text: "model: CAMPPlus\nmodel_conf:\n  feat_dim: 80\n" },
        { path: "campplus_cn_common.bin", size: 270 * KB },
      ],
    }),
    makeRepo({
      id: "nvidia/bigvgan_v2_22khz_80band_256x",
      files: [
        { path: "config.json", text: json({ num_mels: 80, sampling_rate: 22050, hop_size: 256 }) },
        { path: "bigvgan_generator.pt", size: 1.1 * MB },
        { path: "bigvgan_discriminator_optimizer.pt", size: 3.5 * MB },
      ],
    }),
    makeRepo({
      id: "download-models-demo/tiny-voice",
      files: [
        { path: "config.json", text: json({ model_type: "tiny-voice", sample_rate: 16000 }) },
        { path: "tokenizer.json", size: 60 * KB, lfs: false },
        { path: "model.safetensors", size: 1.5 * MB },
        { path: "onnx/model.onnx", size: 900 * KB },
        { path: "onnx/config.json", text: json({ opset: 17 }) },
      ],
    }),
    makeRepo({
      id: "download-models-demo/multi-format",
      tags: ["v1.0"],
      files: [
        { path: "config.json", text: json({ model_type: "multi-format" }) },
        { path: "model.safetensors", size: 800 * KB },
        { path: "pytorch_model.bin", size: 800 * KB },
        { path: "tf_model.h5", size: 800 * KB, lfs: true },
      ],
    }),
    // ModelScope: the speaker-diarization project. The pipeline's configuration.json names its sub-models by id,
    // which is why the project declares them too.
    msSpeechModel("iic/speech_campplus_speaker-diarization_common", "speaker-diarization", "README_zh.md", 2 * KB, {
      speaker_model: "iic/speech_campplus_sv_zh-cn_16k-common",
      vad_model: "iic/speech_fsmn_vad_zh-cn-16k-common-pytorch",
      change_locator: "damo/speech_campplus-transformer_scl_zh-cn_16k-common",
    }),
    msSpeechModel("iic/speech_campplus_sv_zh-cn_16k-common", "speaker-verification", "campplus_cn_common.bin", 3 * MB),
    msSpeechModel("iic/speech_campplus_sv_zh_en_16k-common_advanced", "speaker-verification", "campplus_cn_en_common.pt", 3 * MB),
    msSpeechModel("iic/speech_fsmn_vad_zh-cn-16k-common-pytorch", "voice-activity-detection", "model.pt", 1.7 * MB),
    msSpeechModel("damo/speech_campplus-transformer_scl_zh-cn_16k-common", "speaker-diarization", "pytorch_model.bin", 2.4 * MB),
    makeRepo({
      source: "modelscope",
      id: "download-models-demo/private_vad.v2",
      access: "private",
      tags: ["v2.0.0", "v2.0.1"],
      files: [
        { path: "configuration.json", text: json({ framework: "pytorch", task: "voice-activity-detection" }) },
        { path: "am.mvn", text: "<Nnet>\n<AddShift> 400 400\n</Nnet>\n" },
        { path: "model.pt", size: 1.6 * MB },
      ],
    }),
    makeRepo({
      id: "download-models-demo/gated-speaker",
      access: "gated",
      files: [
        { path: "config.json", text: json({ model_type: "speaker-embedding" }) },
        { path: "embedding.bin", size: 400 * KB },
      ],
    }),
  ];
}
