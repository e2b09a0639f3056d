import { makeRepo, type FileSpec, type HubRepo } from "@download-models/local-hub";

export interface TinyModelOptions {
  /** Size of `model.safetensors` (an LFS file). */
  weights: number;
  /** Files after the four every variant has (config.json, tokenizer.json, model.safetensors, onnx/deep/model.onnx). */
  extraFiles?: FileSpec[];
  extraBranches?: Record<string, FileSpec[]>;
}

/**
 * `acme/tiny-model`, tagged `v1.0`: a plain git file, a non-LFS file, an LFS file and a nested one, the shapes a
 * cache writer or a mirror must get right. Tests add the files their point needs.
 */
export function tinyModel(options: TinyModelOptions): HubRepo {
  return makeRepo({
    id: "acme/tiny-model",
    tags: ["v1.0"],
    files: [
      { path: "config.json", text: '{"a":1}\n' },
      { path: "tokenizer.json", size: 5000, lfs: false },
      { path: "model.safetensors", size: options.weights },
      { path: "onnx/deep/model.onnx", size: 120_000 },
      ...(options.extraFiles ?? []),
    ],
    ...(options.extraBranches ? { extraBranches: options.extraBranches } : {}),
  });
}
