import type { LayoutName } from "../types.ts";

/** Which reader versions load a model filled over S3 as it is, and which need `download-models link` first. */
export interface ReaderSupport {
  asIs: string[];
  needLink: string[];
  /** Ways around the link for some of `needLink`. */
  alternatives: string[];
}

export interface ReaderInput {
  layout: LayoutName;
  /** ModelScope: the name has a dot, so the ≤ 1.11 layout differs from the masked one. */
  dotted?: boolean;
  /** HF: `trees/<commit>.json` was written (commit-pinned snapshot_download on huggingface_hub ≥ 1.26 offline). */
  treeListing?: boolean;
  /** `--modelscope-compat=copy` put full copies where the old readers look. */
  modelscopeCopies?: boolean;
}

/**
 * What a volume written without symlinks serves. HF readers only test that snapshot files exist, so regular files
 * serve every version. ModelScope before 1.23 looks in other directories, which only links (or copies) provide.
 */
export function readerSupport(input: ReaderInput): ReaderSupport {
  if (input.layout === "huggingface") {
    return {
      asIs: [
        "huggingface_hub 0.x–2.x and transformers (from_pretrained, hf_hub_download, snapshot_download of a branch or tag)",
        input.treeListing
          ? "snapshot_download(revision=<commit>) offline on huggingface_hub ≥ 1.26 (trees/<commit>.json is there)"
          : "snapshot_download(revision=<commit>) on huggingface_hub ≥ 1.26 only with local_files_only=True (no tree listing)",
      ],
      needLink: [],
      alternatives: [],
    };
  }
  if (input.layout === "modelscope") {
    const asIs = ["modelscope 1.23–1.37, and 1.38+ with modelscope-hub ≥ 0.1.7 (MODELSCOPE_CACHE=<cache>)", "every version given the directory (pipeline(model=<dir>))"];
    if (input.modelscopeCopies) {
      return { asIs: [...asIs, "modelscope 1.12–1.22 and ≤ 1.11 by id (full copies were uploaded)"], needLink: [], alternatives: [] };
    }
    return {
      asIs,
      needLink: ["modelscope 1.15–1.22 by id", "modelscope 1.12–1.14 by id", `modelscope ≤ 1.11 and 1.38+ with modelscope-hub 0.1.0–0.1.6 by id`],
      alternatives: [
        "1.12–1.14: MODELSCOPE_CACHE=<cache>/models instead of the link",
        input.dotted ? "≤ 1.11 / hub 0.1.0–0.1.6: no env alternative for a dotted name" : "≤ 1.11 / hub 0.1.0–0.1.6: MODELSCOPE_CACHE=<cache>/models",
        "1.15–1.22: cache_dir=<cache>/models as an argument",
      ],
    };
  }
  return { asIs: ["every reader given the directory (plain files)"], needLink: [], alternatives: [] };
}
