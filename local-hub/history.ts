import { makeCommit, type FileSpec, type HubCommit, type HubRepo } from "./repo.ts";

/**
 * Point `branch` of `repo` at a commit with these files, as a push to the hub would: the old commit stays
 * reachable by its sha (HuggingFace serves any commit), the branch now lists the new files. The hub reads the repo
 * object on every request, so the move is visible at once. Returns the commit the branch now points at.
 */
export function moveBranch(repo: HubRepo, branch: string, files: FileSpec[]): HubCommit {
  const commit = makeCommit(repo.id, `${branch}\0${repo.commits.length}`, files);
  const known = repo.commits.find((c) => c.sha === commit.sha);
  if (!known) repo.commits.push(commit);
  repo.refs[branch] = commit.sha;
  return known ?? commit;
}

/** Point `branch` back at a commit the repo already has (by sha). */
export function resetBranch(repo: HubRepo, branch: string, sha: string): void {
  if (!repo.commits.some((c) => c.sha === sha)) throw new Error(`${repo.id} has no commit ${sha}`);
  repo.refs[branch] = sha;
}
