import type { Registry } from "../sources/index.ts";
import { consumerEnv, type Roots } from "../store/index.ts";
import type { Summary } from "./run-download.ts";
import type { ModelRequest } from "../types.ts";
import { layoutOf } from "../store/index.ts";
import { subModelsOf } from "../sources/index.ts";

/** A model the pipeline of a downloaded model loads by id, and the run did not cover. */
export interface SubModelNote {
  /** The downloaded model, `id`. */
  model: string;
  /** The id it loads at run time. */
  subModel: string;
  /** Where its configuration names it, e.g. `model.vad_model`. */
  key: string;
  message: string;
}

/** A filtered HF model: offline `snapshot_download` must be given the same patterns. */
export interface FilterNote {
  model: string;
  include: string[];
  exclude: string[];
  message: string;
}

export interface ConsumerSetup {
  /** What a consuming pod exports to load this run's caches offline. */
  env: { lines: string[]; vars: Record<string, string> };
  notes: Array<SubModelNote | FilterNote>;
}

/**
 * The listing cache holds the whole commit, so an offline `snapshot_download` of a filtered model without the same
 * patterns reports the snapshot incomplete (it is); `from_pretrained` and `hf_hub_download` need nothing.
 */
function filterNotes(summary: Summary, registry: Registry): FilterNote[] {
  return summary.models
    .filter((m) => (m.status === "downloaded" || m.status === "relinked") && (m.include?.length || m.exclude?.length) && layoutOf(registry.get(m.source)) === "huggingface")
    .map((m) => {
      const py = (xs: string[] | undefined) => `[${(xs ?? []).map((x) => JSON.stringify(x)).join(", ")}]`;
      const args = [m.include?.length ? `allow_patterns=${py(m.include)}` : "", m.exclude?.length ? `ignore_patterns=${py(m.exclude)}` : ""].filter(Boolean).join(", ");
      return {
        model: m.id, include: m.include ?? [], exclude: m.exclude ?? [],
        message: `${m.id} holds only the files its filters select: offline, call snapshot_download("${m.id}", ${args}) with the same patterns (from_pretrained and hf_hub_download need nothing).`,
      };
    });
}

/** The caches the models go to, for the run's opening line: label, directory and why that directory. */
export function cachesFor(models: Pick<ModelRequest, "source">[], registry: Registry, roots: Roots): { label: string; dir: string; why: string }[] {
  const layouts = new Set(models.map((m) => layoutOf(registry.get(m.source))));
  return [
    ...(layouts.has("huggingface") ? [{ label: "HuggingFace", dir: roots.huggingface, why: roots.why.huggingface }] : []),
    ...(layouts.has("modelscope") ? [{ label: "ModelScope", dir: roots.modelscope, why: roots.why.modelscope }] : []),
  ];
}

/**
 * ModelScope pipelines load the models their configuration.json names by id, from the network when they are not
 * in the cache: name those this run did not cover, so that offline workers do not fail on them.
 */
async function undeclaredSubModels(summary: Summary, registry: Registry): Promise<SubModelNote[]> {
  const downloaded = summary.models.filter((m) => m.status !== "failed" && m.path && layoutOf(registry.get(m.source)) === "modelscope");
  const have = new Set(downloaded.map((m) => m.id));
  const notes: SubModelNote[] = [];
  for (const m of downloaded) {
    for (const sub of await subModelsOf(m.path!)) {
      if (have.has(sub.id)) continue;
      notes.push({
        model: m.id,
        subModel: sub.id,
        key: sub.key,
        message:
          `${m.id} loads ${sub.id} (configuration.json "${sub.key}") at run time, and it was not part of this run: ` +
          `declare { source: "modelscope", id: "${sub.id}" } in the project too, or offline workers will fail to load it.`,
      });
    }
  }
  return notes;
}

/** After a run: the env lines for the caches that received a model, and the sub-models left out. */
export async function consumerSetup(summary: Summary, registry: Registry, roots: Roots): Promise<ConsumerSetup> {
  const used = new Set(summary.models.filter((m) => m.status !== "failed").map((m) => layoutOf(registry.get(m.source))));
  return {
    env: consumerEnv(roots, { huggingface: used.has("huggingface"), modelscope: used.has("modelscope") }),
    notes: [...(await undeclaredSubModels(summary, registry)), ...filterNotes(summary, registry)],
  };
}
