#!/usr/bin/env node
import { register } from "tsx/esm/api";

register();
// `npm run bench -- image`: the image case (layer types, registry pushes); `hub <fixture>`: serve one fixture for
// profiling by hand; anything else: the download cases.
if (process.argv[2] === "image") await import("../bench/image.ts");
else if (process.argv[2] === "hub") await import("../bench/hub.ts");
else await import("../bench/run.ts");
