import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { idProblem } from "../model-id.ts";

/** A key of configuration.json that names another model the pipeline loads by id (pipelines fetch these by id at run time). */
const SUB_MODEL_KEY = /(^|_)model$|^change_locator$/;

export interface SubModel {
  /** Where in configuration.json, e.g. `speaker_model` or `model.vad_model`. */
  key: string;
  id: string;
}

/**
 * The model ids a ModelScope model's `configuration.json` names (speaker diarization: `speaker_model`, `vad_model`,
 * `change_locator`): its pipeline loads them by id at run time, from the network unless they are in the cache.
 * Reads the local file only; no file, or no such key, gives an empty list.
 */
export async function subModelsOf(modelDir: string): Promise<SubModel[]> {
  let config: unknown;
  try {
    config = JSON.parse(await readFile(join(modelDir, "configuration.json"), "utf8"));
  } catch {
    return [];
  }
  const found: SubModel[] = [];
  const visit = (node: unknown, prefix: string, depth: number) => {
    if (!node || typeof node !== "object" || Array.isArray(node) || depth > 2) return;
    for (const [key, value] of Object.entries(node)) {
      const where = prefix ? `${prefix}.${key}` : key;
      if (typeof value === "string" && SUB_MODEL_KEY.test(key) && value.includes("/") && !idProblem(value)) found.push({ key: where, id: value });
      else visit(value, where, depth + 1);
    }
  };
  visit(config, "", 0);
  return found;
}
