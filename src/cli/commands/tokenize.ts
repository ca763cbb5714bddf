/**
 * `mtp-cli tokenize -m FILE (-p TEXT | -f FILE) [--ids | --json]`: the token ids of a text, like
 * llama.cpp's llama-tokenize (tools/tokenize/tokenize.cpp), whose defaults it keeps: BOS when the
 * file asks for it (`--no-bos` to drop it), control tokens matched only with `--parse-special`.
 * Default output is one `%6d -> 'piece'` line per token; `--ids` prints `[1, 2, 3]`; `--json`
 * prints `{"tokens":[1,2,3]}` and nothing else.
 *
 * `--chat` tokenizes the prompt the way a chat request sends it: TEXT as one user turn (after the
 * `--system` prompt), rendered with the file's chat template (ChatML without one), opening the
 * assistant turn with thinking on or, with `--no-thinking`, off; control tokens are then parsed.
 */
import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import { parseGguf } from "../../gguf/parseGguf.js";
import { formatChat } from "../../tokenizer/formatChat.js";
import { Tokenizer } from "../../tokenizer/Tokenizer.js";
import { readPrompt } from "../readPrompt.js";

interface TokenizeOptions {
  model?: string;
  prompt?: string;
  file?: string;
  ids?: boolean;
  json?: boolean;
  parseSpecial?: boolean;
  bos: boolean;
  chat?: boolean;
  system?: string;
  thinking: boolean;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A piece made readable on a terminal: JSON escapes for control characters, broken UTF-8 as \xNN bytes. */
function showPiece(bytes: Uint8Array): string {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return [...bytes].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`)).join("");
  }
  return JSON.stringify(text).slice(1, -1);
}

export function registerTokenize(program: Command): void {
  program
    .command("tokenize")
    .description("print the token ids of a text, as llama.cpp's llama-tokenize does")
    .option("-m, --model <file>", "GGUF model file (only its tokenizer metadata is read)")
    .option("-p, --prompt <text>", "text to tokenize")
    .option("-f, --file <file>", "read the text from a UTF-8 file")
    .option("--ids", "print only the ids, as [1, 2, 3]")
    .option("--json", 'print {"tokens":[...]} and nothing else')
    .option("--parse-special", "match control tokens such as <|im_start|> in the text")
    .option("--no-bos", "do not add BOS/EOS even if the model asks for them")
    .option("--chat", "tokenize TEXT as a user turn of the model's chat template (ChatML if it has none)")
    .option("--system <text>", "with --chat: a system prompt")
    .option("--no-thinking", "with --chat: open the assistant turn with thinking switched off")
    .action((o: TokenizeOptions) => {
      if (o.model === undefined) throw new UsageError("tokenize: expected -m FILE (a GGUF model), got none");
      if (o.ids && o.json) throw new UsageError("tokenize: expected at most one of --ids and --json, got both");
      if (!o.chat && (o.system !== undefined || !o.thinking)) {
        throw new UsageError(`tokenize: expected --chat with ${o.system !== undefined ? "--system" : "--no-thinking"}, got no --chat`);
      }
      const prompt = readPrompt("tokenize", o.prompt, o.file);
      const tokenizer = Tokenizer.fromGguf(parseGguf(o.model));
      const special = (id: number | undefined) => (id === undefined ? undefined : tokenizer.tokenText(id));
      const text = o.chat
        ? formatChat([{ role: "user", content: prompt }], {
            template: tokenizer.chatTemplate,
            system: o.system,
            enableThinking: o.thinking,
            bosToken: special(tokenizer.bosId),
            eosToken: special(tokenizer.eosId),
          })
        : prompt;
      const ids = tokenizer.encode(text, { parseSpecial: (o.chat || o.parseSpecial) ?? false, addSpecial: o.bos });
      if (o.json) {
        process.stdout.write(JSON.stringify({ tokens: ids }) + "\n");
      } else if (o.ids) {
        process.stdout.write(`[${ids.join(", ")}]\n`);
      } else {
        process.stdout.write(ids.map((id) => `${String(id).padStart(6)} -> '${showPiece(tokenizer.tokenBytes(id, true))}'\n`).join(""));
      }
    });
}
