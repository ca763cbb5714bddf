/**
 * The prompts `mtp-cli bench` generates from when no --prompt-file is given. Draft acceptance, and so
 * the speedup of MTP speculation, depends on the text being written: the set mixes what people run —
 * code, prose and a chat-formatted turn (ChatML, the markup of the Qwen3.5/3.6 templates) — so one
 * number does not flatter one kind of text. Short on purpose: the prompt is evaluated untimed.
 */
export interface BenchPrompt {
  name: string;
  text: string;
}

export const BUILTIN_BENCH_PROMPTS: readonly BenchPrompt[] = [
  {
    name: "code: python module",
    text: `import json
import os
from dataclasses import dataclass, field


@dataclass
class Config:
    """Settings read from a JSON file, with defaults for everything missing."""

    path: str
    retries: int = 3
    tags: list = field(default_factory=list)

    @classmethod
    def load(cls, path):
`,
  },
  {
    name: "code: algorithm",
    text: `def binary_search(items, target):
    """Return the index of target in the sorted list items, or -1."""
    lo, hi = 0, len(items) - 1
    while lo <= hi:
`,
  },
  {
    name: "prose: explanation",
    text: `Speculative decoding speeds up text generation without changing its result. A small draft model
proposes several tokens, and the large model checks all of them in a single forward pass. Because
checking many tokens costs about as much as generating one, every accepted draft token is almost
free. The catch is that`,
  },
  {
    name: "chat: ChatML turn",
    text: `<|im_start|>system
You are a helpful assistant.<|im_end|>
<|im_start|>user
Write a Python function that counts the words in a text file and prints the ten most common ones.<|im_end|>
<|im_start|>assistant
`,
  },
];
