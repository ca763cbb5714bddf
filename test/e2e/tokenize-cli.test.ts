/**
 * `mtp-cli tokenize` end to end through bin/mtp-cli and the built dist/: the three output forms
 * on tiny-code (ids checked against the library and, for heldout.txt, against llama.cpp), and the
 * exit codes: 1 for bad flags or an unreadable/non-UTF-8 prompt file, 2 for a bad model file.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeQwen3VocabGguf, writeVocabGguf } from "../../scripts/tokenizerGguf.mjs";
import * as N from "../../src/gguf/names.js";
import { parseGguf } from "../../src/gguf/parseGguf.js";
import { kv } from "../../src/gguf/writeGguf.js";
import { byteToUnicode } from "../../src/tokenizer/byteToUnicode.js";
import { formatChat } from "../../src/tokenizer/formatChat.js";
import { Tokenizer, TokenType } from "../../src/tokenizer/Tokenizer.js";
import { runCli } from "../helpers/cli.js";
import { FIXTURES, tempDir, TINY_Q8 } from "../helpers/fixtures.js";
import { llamaTokenize, loadLlamaVocab } from "../helpers/llamaCpp.js";

const dir = tempDir("mtp-tokenize-cli-");
const HELDOUT_PATH = join(FIXTURES, "tokenizer/heldout.txt");
const tok = Tokenizer.fromGguf(parseGguf(TINY_Q8));
const CODE = "def f(x):\n    return x ** 2  # 平方 ✓\n";

describe("output", () => {
  it("--json prints {\"tokens\":[...]} and nothing else", () => {
    const r = runCli(["tokenize", "-m", TINY_Q8, "-p", CODE, "--json"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`{"tokens":[${tok.encode(CODE).join(",")}]}\n`);
  });

  it("--ids on a file matches llama.cpp", async () => {
    const r = runCli(["tokenize", "-m", TINY_Q8, "-f", HELDOUT_PATH, "--ids"]);
    expect(r.status).toBe(0);
    expect(r.stdout.startsWith("[") && r.stdout.endsWith("]\n")).toBe(true);
    const ids = r.stdout.slice(1, -2).split(", ").map(Number);
    const llama = await loadLlamaVocab(TINY_Q8);
    expect(ids).toEqual(llamaTokenize(llama, readFileSync(HELDOUT_PATH, "utf8"), false));
  });

  it("default: one `%6d -> 'piece'` line per token, pieces escaped, broken UTF-8 as \\xNN", () => {
    const r = runCli(["tokenize", "-m", TINY_Q8, "-p", "<|im_start|>hi\n✓", "--parse-special"]);
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    const ids = tok.encode("<|im_start|>hi\n✓", { parseSpecial: true });
    expect(lines).toHaveLength(ids.length);
    expect(lines[0]).toBe("     1 -> '<|im_start|>'");
    expect(lines.some((l) => l.endsWith(" -> '\\n'"))).toBe(true);
    // ✓ (E2 9C 93) is three byte tokens in this 8k vocabulary, each an incomplete character
    expect(lines.slice(-3).map((l) => l.slice(10))).toEqual(["'\\xe2'", "'\\x9c'", "'\\x93'"]);
  });

  it("a prompt file's leading byte order mark is tokenized, not dropped", () => {
    const path = join(dir, "bom.txt");
    writeFileSync(path, "\ufeffimport os\n");
    const r = runCli(["tokenize", "-m", TINY_Q8, "-f", path, "--json"]);
    expect(JSON.parse(r.stdout)).toEqual({ tokens: tok.encode("\ufeffimport os\n") });
    expect(tok.encode("\ufeffimport os\n").length).toBeGreaterThan(tok.encode("import os\n").length);
  });

  it("control tokens are text unless --parse-special", () => {
    const plain = runCli(["tokenize", "-m", TINY_Q8, "-p", "<|im_end|>", "--json"]);
    const special = runCli(["tokenize", "-m", TINY_Q8, "-p", "<|im_end|>", "--json", "--parse-special"]);
    expect(JSON.parse(special.stdout)).toEqual({ tokens: [2] });
    expect(JSON.parse(plain.stdout).tokens.length).toBeGreaterThan(1);
  });

  it("BOS/EOS when the file asks for them, not with --no-bos", () => {
    const path = join(dir, "bos.gguf");
    const tokens = [...byteToUnicode, "<s>", "</s>"];
    writeVocabGguf(path, {
      pre: "qwen2",
      tokens,
      types: tokens.map((_, i) => (i >= 256 ? TokenType.control : TokenType.normal)),
      merges: [],
      kv: [kv.u32(N.KEY_TOKENIZER_BOS_ID, 256), kv.u32(N.KEY_TOKENIZER_EOS_ID, 257), kv.bool(N.KEY_TOKENIZER_ADD_BOS, true), kv.bool(N.KEY_TOKENIZER_ADD_EOS, true)],
    });
    expect(JSON.parse(runCli(["tokenize", "-m", path, "-p", "a", "--json"]).stdout)).toEqual({ tokens: [256, 97, 257] });
    expect(JSON.parse(runCli(["tokenize", "-m", path, "-p", "a", "--json", "--no-bos"]).stdout)).toEqual({ tokens: [97] });
  });
});

describe("--chat", () => {
  it("ChatML for a file without a template: system turn, user turn, assistant opening", () => {
    const r = runCli(["tokenize", "-m", TINY_Q8, "-p", "hi", "--chat", "--system", "Be brief.", "--json"]);
    expect(r.status).toBe(0);
    const ids = JSON.parse(r.stdout).tokens as number[];
    expect(tok.decode(ids, { special: true })).toBe("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    expect(ids.filter((t) => t === 1)).toHaveLength(3);
  });

  it("the file's template, thinking on and off", () => {
    const path = join(dir, "qwen3.gguf");
    writeQwen3VocabGguf(path, { pre: "qwen2" });
    const qwen3 = Tokenizer.fromGguf(parseGguf(path));
    for (const thinking of [true, false]) {
      const r = runCli(["tokenize", "-m", path, "-p", "Why?", "--chat", "--json", ...(thinking ? [] : ["--no-thinking"])]);
      expect(r.status).toBe(0);
      const want = formatChat([{ role: "user", content: "Why?" }], { template: qwen3.chatTemplate, enableThinking: thinking });
      expect(want.endsWith(thinking ? "<|im_start|>assistant\n" : "<|im_start|>assistant\n<think>\n\n</think>\n\n")).toBe(true);
      expect(JSON.parse(r.stdout)).toEqual({ tokens: qwen3.encode(want, { parseSpecial: true }) });
    }
  });
});

describe("exit codes", () => {
  const notGguf = join(dir, "not.gguf");
  writeFileSync(notGguf, "definitely not a GGUF file");
  const badUtf8 = join(dir, "bad.txt");
  writeFileSync(badUtf8, Buffer.from([0x61, 0xff, 0x62]));
  const cases: [string, string[], number, RegExp][] = [
    ["no -m", ["-p", "x"], 1, /expected -m FILE/],
    ["both -p and -f", ["-m", TINY_Q8, "-p", "x", "-f", HELDOUT_PATH], 1, /expected exactly one of -p TEXT or -f FILE, got both/],
    ["neither -p nor -f", ["-m", TINY_Q8], 1, /expected exactly one of -p TEXT or -f FILE, got neither/],
    ["--ids with --json", ["-m", TINY_Q8, "-p", "x", "--ids", "--json"], 1, /at most one of --ids and --json/],
    ["--system without --chat", ["-m", TINY_Q8, "-p", "x", "--system", "s"], 1, /expected --chat with --system, got no --chat/],
    ["an unknown flag", ["-m", TINY_Q8, "-p", "x", "--idz"], 1, /unknown option '--idz'/],
    ["a missing prompt file", ["-m", TINY_Q8, "-f", join(dir, "nope.txt")], 1, /nope\.txt: expected a readable file, got ENOENT/],
    ["a prompt file that is not UTF-8", ["-m", TINY_Q8, "-f", badUtf8], 1, /bad\.txt: expected UTF-8 text, got invalid UTF-8/],
    ["a missing model file", ["-m", join(dir, "nope.gguf"), "-p", "x"], 2, /nope\.gguf: cannot open \(ENOENT\)/],
    ["a file that is not GGUF", ["-m", notGguf, "-p", "x"], 2, /not a GGUF file/],
  ];
  for (const [what, args, code, message] of cases) {
    it(`${what} → ${code}`, () => {
      const r = runCli(["tokenize", ...args]);
      expect(r.status).toBe(code);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(message);
    });
  }

  it("an unsupported pre-tokenizer → 2, naming the key", () => {
    const path = join(dir, "llama3.gguf");
    writeVocabGguf(path, { pre: "llama3", tokens: [...byteToUnicode], types: byteToUnicode.map(() => TokenType.normal), merges: [] });
    const r = runCli(["tokenize", "-m", path, "-p", "x"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('mtp-cli: ModelDescriptionError: tokenizer.ggml.pre: expected one of "qwen2", "qwen35", got "llama3"\n');
  });
});
