/**
 * Run `work` on every item, at most `width` at a time, in the items' order: a few workers pull the next index, so a
 * listing of 300,000 files costs `width` pending promises, not one promise, closure and queue entry per file. No new
 * item starts once one failed or `signal` is aborted; the errors of those that ran are returned once all settled.
 */
export async function eachLimited<T>(
  items: readonly T[],
  width: number,
  work: (item: T, index: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<unknown[]> {
  const errors: unknown[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length && errors.length === 0 && !signal?.aborted) {
      const index = next++;
      try {
        await work(items[index]!, index);
      } catch (error) {
        errors.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(width, items.length)) }, worker));
  return errors;
}

/**
 * Wait for every promise of `list`, including those pushed onto it while waiting (workers a scaler adds later):
 * resolves once a wait ends with no newcomer. The promises must not reject (their callers catch).
 */
export async function allOfGrowing(list: ReadonlyArray<Promise<unknown>>): Promise<void> {
  for (let seen = -1; seen < list.length; ) {
    seen = list.length;
    await Promise.all(list);
  }
}
