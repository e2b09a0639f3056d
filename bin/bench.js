#!/usr/bin/env node
import { register } from "tsx/esm/api";

register();
// `npm run bench -- image`: the image case (layer types, registry pushes); anything else: the download cases.
if (process.argv[2] === "image") await import("../bench/image.ts");
else await import("../bench/run.ts");
