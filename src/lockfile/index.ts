// The door of lockfile/: everything other stages use from it.
export { type FormatProblemsOptions, type FrozenProblem, formatDiff, formatFrozenProblems, frozenProblems, undeclaredProblems, isUnchanged, listingMatches, modelRef, movedError } from "./diff.ts";
export { type LockFile, LockfileError, entryFromSnapshot, findEntry, lockPathFor, putEntry, readLock, requestOf, serializeLock, withLockfileLease, writeLock } from "./lockfile.ts";
export { type Lock, type LockEntry } from "./schema.ts";
export { type EntryDiff, diffEntries } from "./diff.ts";
