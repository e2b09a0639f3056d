import { defineProject } from "download-models/define";

// FunASR / CAM++ speaker diarization. The diarization pipeline's configuration.json names the VAD, embedding and
// change-locator models by id, so they are declared too: otherwise the pipeline downloads them at run time.
export default defineProject({
  name: "speaker-diarization",
  description: "CAM++ speaker diarization (FunASR) from ModelScope",
  source: "modelscope",
  models: [
    { id: "iic/speech_campplus_speaker-diarization_common" },
    { id: "iic/speech_campplus_sv_zh-cn_16k-common" },
    { id: "iic/speech_campplus_sv_zh_en_16k-common_advanced" },
    { id: "iic/speech_fsmn_vad_zh-cn-16k-common-pytorch" },
    { id: "damo/speech_campplus-transformer_scl_zh-cn_16k-common" },
  ],
});
