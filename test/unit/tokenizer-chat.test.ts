/**
 * Chat formatting (../shared/docs/qwen35-mtp-spec.md §6.4): the ChatML fallback byte for byte,
 * and the Qwen3.5/3.6 template llama.cpp ships (test/fixtures/tokenizer/Qwen3.5-4B.jinja)
 * rendered by @huggingface/jinja: system prompt, multi-turn history with reasoning kept only after
 * the last user query, the thinking switch, and the template's own refusals as usage errors.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ModelDescriptionError, UsageError } from "../../src/errors.js";
import { parseGguf } from "../../src/gguf/parseGguf.js";
import { formatChat, type ChatMessage } from "../../src/tokenizer/formatChat.js";
import { Tokenizer } from "../../src/tokenizer/Tokenizer.js";
import { FIXTURES, TINY_Q8 } from "../helpers/fixtures.js";

const QWEN35 = readFileSync(join(FIXTURES, "tokenizer/Qwen3.5-4B.jinja"), "utf8");

describe("ChatML fallback (no tokenizer.chat_template)", () => {
  it("renders turns and the generation prompt exactly", () => {
    const messages: ChatMessage[] = [
      { role: "user", content: "Hi" },
      { role: "assistant", content: "Hello!" },
      { role: "user", content: "2+2?" },
    ];
    expect(formatChat(messages, { system: "Be brief." })).toBe(
      "<|im_start|>system\nBe brief.<|im_end|>\n" +
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n" +
        "<|im_start|>assistant\n",
    );
    expect(formatChat([{ role: "user", content: "x" }], { addGenerationPrompt: false, enableThinking: false })).toBe("<|im_start|>user\nx<|im_end|>\n");
  });

  it("tokenizes to single control tokens with special parsing (tiny-code has no template)", () => {
    const tok = Tokenizer.fromGguf(parseGguf(TINY_Q8));
    expect(tok.chatTemplate).toBeUndefined();
    const ids = tok.encode(formatChat([{ role: "user", content: "hi" }], { template: tok.chatTemplate }), { parseSpecial: true });
    expect(ids[0]).toBe(1); // <|im_start|>
    expect(ids.filter((t) => t === 2)).toHaveLength(1); // <|im_end|>
    expect(tok.decode(ids, { special: true })).toBe("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  });
});

describe("the Qwen3.5/3.6 template", () => {
  it("thinking on opens <think>; thinking off closes an empty one", () => {
    const messages: ChatMessage[] = [{ role: "user", content: "Why?" }];
    expect(formatChat(messages, { template: QWEN35 })).toBe("<|im_start|>user\nWhy?<|im_end|>\n<|im_start|>assistant\n<think>\n");
    expect(formatChat(messages, { template: QWEN35, enableThinking: false })).toBe(
      "<|im_start|>user\nWhy?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
    );
  });

  it("system prompt, and reasoning kept only for assistant turns after the last user query", () => {
    const messages: ChatMessage[] = [
      { role: "user", content: "Q1" },
      { role: "assistant", content: "A1", reasoning_content: "R1" },
      { role: "user", content: "Q2" },
      { role: "assistant", content: "<think>\nR2\n</think>\n\nA2" },
    ];
    expect(formatChat(messages, { template: QWEN35, system: "S", addGenerationPrompt: false })).toBe(
      "<|im_start|>system\nS<|im_end|>\n" +
        "<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n" +
        "<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n<think>\nR2\n</think>\n\nA2<|im_end|>\n",
    );
  });

  it("the template's refusals are usage errors; a template that does not parse is a model file error", () => {
    expect(() => formatChat([{ role: "assistant", content: "x" }], { template: QWEN35 })).toThrow(UsageError);
    expect(() => formatChat([{ role: "assistant", content: "x" }], { template: QWEN35 })).toThrow(/No user query found in messages/);
    expect(() => formatChat([{ role: "user", content: "x" }, { role: "system", content: "late" }], { template: QWEN35 })).toThrow(/System message must be at the beginning/);
    const broken = () => formatChat([{ role: "user", content: "x" }], { template: "{% for m in messages %}" });
    expect(broken).toThrow(ModelDescriptionError);
    expect(broken).toThrow(/^tokenizer\.chat_template: expected a Jinja template, got one that does not parse/);
  });
});
