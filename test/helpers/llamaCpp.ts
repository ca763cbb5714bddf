/**
 * llama.cpp as the reference tokenizer: node-llama-cpp 3.22.1's CPU prebuilt, models loaded with
 * vocab_only (no tensors, no context, so no threads to size). One Llama instance per test file.
 */
import { getLlama, LlamaLogLevel, type Llama, type LlamaModel } from "node-llama-cpp";

/**
 * Before loading, node-llama-cpp estimates memory by loading the file with its tensors; for our
 * tokenizer-only GGUFs that probe fails (and is then skipped) with these two lines. Anything else
 * llama.cpp reports at error level is shown.
 */
const PROBE_NOISE = /missing tensor 'token_embd\.weight'|llama_model_load_from_file_impl: failed to load model/;

let llama: Promise<Llama> | undefined;

export async function loadLlamaVocab(modelPath: string): Promise<LlamaModel> {
  llama ??= getLlama({
    gpu: false,
    build: "never",
    logLevel: LlamaLogLevel.error,
    logger: (_level, message) => {
      if (!PROBE_NOISE.test(message)) process.stderr.write(`[node-llama-cpp] ${message}\n`);
    },
  });
  return (await llama).loadModel({ modelPath, vocabOnly: true });
}

/** llama.cpp's ids for `text`: node-llama-cpp calls common_tokenize with add_special = false. */
export function llamaTokenize(model: LlamaModel, text: string, parseSpecial: boolean): number[] {
  return Array.from(model.tokenize(text, parseSpecial));
}
