// The door of select/: everything other stages use from it.
export { type Project, type ProjectConfig, loadProjects, validateProject } from "./project.ts";
export { dedupe, projectModels, toRequest } from "./requests.ts";
export { type LoadSelectionOptions, type LoadedSelection, type PluginDirs, type Selection, commandLineModels, downloaderDirs, loadSelection, pickProjects, projectDirs, selectModels, usesProjects } from "./selection.ts";
