// bench/llamacpp.mjs — llama.cpp's prompt and decode speed on one GGUF file, through
// the npm package node-llama-cpp (its prebuilt CPU build; bench/llamacpp.sh installs it),
// measured as llama-bench does: a prompt of PROMPT fixed tokens evaluated as one batch,
// then GEN single tokens evaluated one after another (no sampling), in one context of
// 1024; prints {"prompt_tps", "gen_tps", "threads"} as JSON.  (Generating through the
// package's sampling loop adds ~3-5 ms per token of JavaScript and scheduling here.)
// usage: node bench.mjs MODEL.gguf THREADS [PROMPT=64] [GEN=128]
import {getLlama, LlamaLogLevel} from "node-llama-cpp";
const [,, modelPath, threadsS, nPromptS, nGenS] = process.argv;
const threads = +threadsS, nPrompt = +(nPromptS ?? 64), nGen = +(nGenS ?? 128);
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath, gpuLayers: 0, useMmap: true});
const ctx = await model.createContext({contextSize: 1024, batchSize: 512, threads, sequences: 1, flashAttention: false});
const seq = ctx.getSequence();
const tokens = [];
for (let i = 0; i < nPrompt; i++) tokens.push(1 + (i * 7919 + 13) % 31000);
const t0 = performance.now();
await seq.evaluateWithoutGeneratingNewTokens(tokens);
const t1 = performance.now();
for (let i = 0; i < nGen; i++)
  await seq.evaluateWithoutGeneratingNewTokens([1 + (i * 31 + 7) % 31000]);
const t2 = performance.now();
console.log(JSON.stringify({prompt_tps: nPrompt / ((t1 - t0) / 1e3), gen_tps: nGen / ((t2 - t1) / 1e3), threads}));
process.exit(0);
