// The door of cli/: the program, for bin/download-models.js.
export { main } from "./main.ts";
