// bench/llamacpp_greedy.mjs — llama.cpp's greedy continuation of a token sequence, through
// node-llama-cpp (installed by bench/llamacpp.sh into bench/out/nlc; copy this file there to
// run it): one thread, flash attention off, F16 KV cache, context 512; prints the ids as JSON.
// Used to compare long greedy runs token for token (bench/RESULTS.md, the last section).
// usage: node bench/out/nlc/greedy.mjs MODEL.gguf 1,403,407,261,378 400
import {getLlama, LlamaLogLevel} from "node-llama-cpp";
const [,, modelPath, idsS, nS] = process.argv;
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath, gpuLayers: 0});
const ctx = await model.createContext({contextSize: 512, batchSize: 512, threads: 1, sequences: 1, flashAttention: false});
const seq = ctx.getSequence();
const out = [];
for await (const t of seq.evaluate(idsS.split(",").map(Number), {temperature: 0})) {
  out.push(t);
  if (out.length >= +nS) break;
}
console.log(JSON.stringify(out));
process.exit(0);
