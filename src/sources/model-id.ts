import { UsageError } from "../errors.ts";

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/**
 * Why `id` is not a usable repository id, or undefined when it is. One or two path segments
 * (`gpt2`, `org/name`) of letters, digits, `_`, `.` and `-`; no `..`: ids become directory names.
 */
export function idProblem(id: string): string | undefined {
  if (id.length === 0) return "the id is empty";
  if (id.length > 200) return "the id is longer than 200 characters";
  const parts = id.split("/");
  if (parts.length > 2) return `"${id}" has more than one "/"; expected "org/name"`;
  for (const part of parts) {
    if (!SEGMENT.test(part) || part.includes("..")) {
      return `"${id}" is not a repository id; expected "org/name" made of letters, digits, "_", "." and "-"`;
    }
  }
  return undefined;
}

export interface ParsedId {
  id: string;
  source?: string;
  revision?: string;
}

/**
 * Parse a command-line model reference: `org/name`, `hf:org/name`, `huggingface:org/name@v1.0`.
 * The prefix names the source; `@rev` pins a revision.
 */
export function parseModelRef(ref: string): ParsedId {
  let rest = ref.trim();
  let source: string | undefined;
  const colon = rest.indexOf(":");
  if (colon > 0 && !rest.slice(0, colon).includes("/")) {
    source = rest.slice(0, colon);
    rest = rest.slice(colon + 1);
  }
  let revision: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    revision = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!revision) throw new UsageError(`"${ref}": nothing after "@"; write org/name@<branch, tag or commit>`);
  }
  const problem = idProblem(rest);
  if (problem) throw new UsageError(`${problem} (in "${ref}")`);
  return { id: rest, ...(source ? { source } : {}), ...(revision ? { revision } : {}) };
}

/**
 * Owners whose models live on ModelScope (Alibaba DAMO / Tongyi speech and vision labs, ModelScope's own
 * mirrors). An id given on the command line without a prefix or `--source` goes to ModelScope when its owner is one
 * of these, to HuggingFace otherwise. Compared case-insensitively.
 */
export const MODELSCOPE_OWNERS = ["damo", "iic", "modelscope", "AI-ModelScope"] as const;

/** The source for a command-line id that names none: the rule above. */
export function guessSource(id: string): "modelscope" | "huggingface" {
  const owner = id.split("/")[0]!.toLowerCase();
  return MODELSCOPE_OWNERS.some((o) => o.toLowerCase() === owner) && id.includes("/") ? "modelscope" : "huggingface";
}
