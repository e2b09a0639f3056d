import { onTestFinished } from "vitest";
import { connect } from "node:net";
import { makeRepo, type HubRepo } from "../../local-hub/index.ts";
import { resolveRoots } from "../../src/store/index.ts";
import { startMirror, type Mirror, type MirrorOptions, type ServeEvent } from "../../src/serve/index.ts";
import { tinyModel } from "./repos.ts";

/** The shared tiny HF repo with what a mirror must also get right: an empty file, a second branch. */
export const hfRepo = (): HubRepo =>
  tinyModel({
    weights: 3 * 1024 * 1024 + 17,
    extraFiles: [{ path: "empty.txt", text: "" }],
    extraBranches: { dev: [{ path: "config.json", text: '{"dev":true}\n' }, { path: "model.safetensors", size: 4096, seed: "dev-weights" }] },
  });

export const msRepo = (): HubRepo =>
  makeRepo({
    id: "acme/ms-model",
    source: "modelscope",
    files: [
      { path: "configuration.json", text: '{"task":"x"}\n' },
      { path: "pytorch_model.bin", size: 700_000 },
      { path: "sub/vocab.txt", size: 3000, lfs: false },
    ],
  });

/** A mirror of `root` for one test, closed when it ends. */
export async function mirrorOf(root: string, extra: Partial<MirrorOptions> = {}): Promise<Mirror & { events: ServeEvent[] }> {
  const events: ServeEvent[] = [];
  const m = await startMirror({ roots: resolveRoots({ root, env: {} }), onEvent: (e) => events.push(e), ...extra });
  onTestFinished(() => m.close());
  return { ...m, events };
}

/** Send raw bytes on one connection and collect what comes back until the server closes it or `ms` pass. */
export function rawRequest(url: string, bytes: string | Buffer, ms = 2000): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let out = "";
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, ms);
    socket.on("data", (d) => {
      out += d.toString("latin1");
      // One answer is enough: stop after a complete header block with a short body.
      if (/\r\n\r\n/.test(out) && /content-length: (\d+)/i.test(out)) {
        const len = Number(/content-length: (\d+)/i.exec(out)![1]);
        if (out.length - out.indexOf("\r\n\r\n") - 4 >= len) done();
      }
    });
    socket.on("error", done);
    socket.on("close", done);
    socket.write(bytes);
  });
}
