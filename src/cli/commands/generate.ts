/**
 * `mtp-cli generate`: text from a prompt, with MTP self-speculative decoding (the model's NextN head
 * drafts K tokens, the trunk verifies them in one pass). Greedy output (--temp 0) is token-identical
 * to plain decoding; sampled output has exactly the plain sampling distribution (speculative
 * rejection sampling). The decode loop runs natively; JS streams chunks of tokens as they come.
 *
 * Text goes to stdout as it is produced, a stats line to stderr; --json prints one object and
 * nothing else. Ctrl-C stops cleanly with the stats so far (exit 130). Flags mirror llama.cpp's
 * names where the meaning is the same (-m -p -f -n -c --temp --top-k --top-p --min-p --seed).
 */
import { randomInt } from "node:crypto";
import chalk from "chalk";
import type { Command } from "commander";
import { MtpError, UsageError } from "../../errors.js";
import { DEFAULT_MODEL_PATH, openModel, type BackendChoice } from "../../engine/openModel.js";
import type { GenerateStats } from "../../native/NativeModel.js";
import { formatChat } from "../../tokenizer/formatChat.js";
import { StreamingDetokenizer } from "../../tokenizer/StreamingDetokenizer.js";
import { floatOption, intOption } from "../options.js";
import { readPrompt } from "../readPrompt.js";

export const DEFAULT_DRAFT = 3;
const MAX_DRAFT = 16;
const DEFAULT_CTX = 4096;
/** Tokens asked of the native loop per call: small enough to stream smoothly. */
const CHUNK = 16;

interface GenerateOptions {
  model?: string;
  prompt?: string;
  file?: string;
  nPredict: number;
  ctx?: number;
  mtpSpecDecode?: number;
  temp: number;
  topK: number;
  topP: number;
  minP: number;
  seed?: number;
  chat?: boolean;
  system?: string;
  thinking: boolean;
  special?: boolean;
  ignoreEos?: boolean;
  backend: BackendChoice;
  threads: number;
  json?: boolean;
}

export function registerGenerate(program: Command): void {
  program
    .command("generate")
    .description("generate text, drafting tokens with the model's MTP head (self-speculative decoding)")
    .option("-m, --model <file>", "GGUF model file (default: the bundled tiny-code model)")
    .option("-p, --prompt <text>", "prompt text")
    .option("-f, --file <file>", "read the prompt from a file")
    .option("-n, --n-predict <n>", "tokens to generate (-1 = until end of generation or context full)", intOption("-n", -1, 1 << 24), 256)
    .option("-c, --ctx <n>", `context size in tokens (default: min(${DEFAULT_CTX}, the model's training context))`, intOption("--ctx", 1, 1 << 24))
    .option("--mtp-spec-decode <k>", `draft K tokens per step with the MTP head, 0..${MAX_DRAFT} (0 = plain decoding; default ${DEFAULT_DRAFT} when the model has an MTP head)`, intOption("--mtp-spec-decode", 0, MAX_DRAFT))
    .option("--temp <t>", "temperature (0 = greedy)", floatOption("--temp", 0, 100), 0.8)
    .option("--top-k <k>", "top-k sampling (0 = off)", intOption("--top-k", 0, 1 << 24), 40)
    .option("--top-p <p>", "top-p sampling (1 = off)", floatOption("--top-p", 0, 1), 0.95)
    .option("--min-p <p>", "min-p sampling (0 = off)", floatOption("--min-p", 0, 1), 0.05)
    .option("--seed <n>", "random seed (default: random; printed in the stats)", intOption("--seed", 0, Number.MAX_SAFE_INTEGER))
    .option("--chat", "format the prompt as a user turn with the model's chat template")
    .option("--system <text>", "system prompt (implies --chat)")
    .option("--no-thinking", "with --chat: open the assistant turn with thinking disabled")
    .option("--special", "print special tokens (e.g. <|im_end|>)")
    .option("--ignore-eos", "do not stop at end-of-generation tokens (generate until -n or the context is full)")
    .option("--backend <name>", "auto | cuda | cpu", "auto")
    .option("-t, --threads <n>", "CPU threads (0 = all cores)", intOption("--threads", 0, 1024), 0)
    .option("--json", "print one JSON object {text, tokens, stats} and nothing else")
    .action(async (o: GenerateOptions) => runGenerate(o));
}

async function runGenerate(o: GenerateOptions): Promise<void> {
  const text = readPrompt("generate", o.prompt, o.file);
  const m = openModel(o.model ?? DEFAULT_MODEL_PATH, o.backend);
  const hp = m.description.hparams;
  const k = o.mtpSpecDecode ?? (m.description.mtp ? DEFAULT_DRAFT : 0);
  if (k > 0 && !m.description.mtp) {
    throw new UsageError(`--mtp-spec-decode ${k}: ${m.path} has no MTP (NextN) head, so it cannot draft; use --mtp-spec-decode 0`);
  }
  const nCtx = o.ctx ?? Math.min(DEFAULT_CTX, hp.contextLength || DEFAULT_CTX);
  const chat = o.chat || o.system !== undefined;
  const promptText = chat
    ? formatChat([{ role: "user", content: text }], { template: m.tokenizer.chatTemplate, system: o.system, enableThinking: o.thinking })
    : text;
  // as llama.cpp: special tokens in the prompt are parsed (chat markup), BOS only if the file asks
  const prompt = m.tokenizer.encode(promptText, { parseSpecial: true });
  if (prompt.length === 0) throw new UsageError("generate: the prompt is empty");
  if (prompt.length > nCtx) throw new UsageError(`generate: the prompt has ${prompt.length} tokens, more than the context of ${nCtx} (-c)`);
  const seed = o.seed ?? randomInt(0, 2 ** 47);

  const session = m.native.createSession({ nCtx, nThreads: o.threads, nDraftMax: k });
  const t0 = performance.now();
  session.generateBegin(prompt, {
    draftMax: k,
    nPredict: o.nPredict,
    temperature: o.temp,
    topK: o.topK,
    topP: o.topP,
    minP: o.minP,
    seed,
    eogTokens: o.ignoreEos ? [] : m.tokenizer.eogIds,
  });
  const t1 = performance.now();

  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
  };
  process.on("SIGINT", onSigint);
  const detok = new StreamingDetokenizer(m.tokenizer, { special: o.special ?? false });
  const tokens: number[] = [];
  let out = "";
  let stats: GenerateStats = { stopReason: "none", nSteps: 0, nDrafted: 0, nAccepted: 0, nGenerated: 0 };
  try {
    while (!interrupted) {
      const chunk = await session.generateNextAsync(CHUNK);
      stats = chunk.stats;
      if (chunk.tokens.length === 0) break;
      tokens.push(...chunk.tokens);
      let piece = "";
      for (const id of chunk.tokens) piece += detok.push(id);
      out += piece;
      if (!o.json) process.stdout.write(piece);
    }
    const tail = detok.flush();
    out += tail;
    if (!o.json) process.stdout.write(tail + "\n");
  } finally {
    process.off("SIGINT", onSigint);
  }
  const t2 = performance.now();

  const acceptance = stats.nDrafted ? stats.nAccepted / stats.nDrafted : 0;
  const report = {
    n_prompt: prompt.length,
    n_generated: tokens.length,
    n_drafted: stats.nDrafted,
    n_accepted: stats.nAccepted,
    acceptance,
    tokens_per_step: stats.nSteps ? tokens.length / stats.nSteps : 0,
    prompt_tps: prompt.length / ((t1 - t0) / 1000),
    gen_tps: tokens.length / ((t2 - t1) / 1000),
    backend: m.backend.toLowerCase(),
    k,
    seed,
    stop: interrupted ? "interrupted" : stats.stopReason,
  };
  if (o.json) {
    process.stdout.write(JSON.stringify({ text: out, tokens, stats: report }) + "\n");
  } else {
    const spec = k > 0 ? `, drafted ${report.n_drafted}, accepted ${report.n_accepted} (${(100 * acceptance).toFixed(1)} %), ${report.tokens_per_step.toFixed(2)} tokens/step` : "";
    process.stderr.write(
      chalk.dim(
        `\n[${report.backend}, K=${k}] prompt ${prompt.length} tok at ${report.prompt_tps.toFixed(1)} tok/s, ` +
          `generated ${tokens.length} tok at ${report.gen_tps.toFixed(1)} tok/s${spec}, seed ${seed}, stop: ${report.stop}\n`,
      ),
    );
  }
  m.native.free();
  if (interrupted) throw new MtpError("interrupted", 130);
}
