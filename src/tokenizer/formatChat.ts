/**
 * Renders a conversation into the prompt text a chat model expects, from the GGUF's
 * `tokenizer.chat_template` (Jinja, rendered with @huggingface/jinja, the implementation
 * transformers.js uses), or plain ChatML when the file has no template
 * (../shared/docs/qwen35-mtp-spec.md §6.4): turns are `<|im_start|>{role}\n{content}<|im_end|>\n`.
 *
 * The Qwen3.5/3.6 templates open the assistant turn with `<think>\n` and, when `enable_thinking`
 * is false, with an empty `<think>\n\n</think>\n\n` instead. The ChatML fallback has no thinking
 * block: a file without a template gives no reason to believe its model knows `<think>`.
 * The result contains control-token texts; encode it with `parseSpecial: true`.
 */
import { Template } from "@huggingface/jinja";
import { ModelDescriptionError, UsageError } from "../errors.js";
import { KEY_TOKENIZER_CHAT_TEMPLATE } from "../gguf/names.js";

export interface ChatMessage {
  role: "system" | "user" | "assistant" | "tool";
  content: string;
  /** Earlier assistant reasoning; the Qwen templates keep it only after the last user query. */
  reasoning_content?: string;
}

export interface ChatFormatOptions {
  /** Jinja source, normally Tokenizer.chatTemplate; ChatML when undefined. */
  template?: string;
  /** A system prompt put before the messages. */
  system?: string;
  /** End with the opening of an assistant turn. Default true. */
  addGenerationPrompt?: boolean;
  /** The Qwen thinking switch. Default true. */
  enableThinking?: boolean;
  bosToken?: string;
  eosToken?: string;
}

export const CHATML_TEMPLATE =
  "{%- for message in messages -%}" +
  "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}" +
  "{%- endfor -%}" +
  "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}";

export function formatChat(messages: readonly ChatMessage[], opts: ChatFormatOptions = {}): string {
  const source = opts.template ?? CHATML_TEMPLATE;
  const where = opts.template === undefined ? "ChatML template" : KEY_TOKENIZER_CHAT_TEMPLATE;
  let template: Template;
  try {
    template = new Template(source);
  } catch (e) {
    throw new ModelDescriptionError(`${where}: expected a Jinja template, got one that does not parse (${(e as Error).message})`);
  }
  const all = opts.system === undefined ? messages : [{ role: "system", content: opts.system } as const, ...messages];
  try {
    return template.render({
      messages: all,
      add_generation_prompt: opts.addGenerationPrompt ?? true,
      enable_thinking: opts.enableThinking ?? true,
      bos_token: opts.bosToken ?? "",
      eos_token: opts.eosToken ?? "",
    });
  } catch (e) {
    // A template that parses fails at render time on messages it refuses (its raise_exception(),
    // e.g. "No user query found in messages."): the messages are the thing to fix.
    throw new UsageError(`${where}: expected messages the template accepts, got an error (${(e as Error).message})`);
  }
}
