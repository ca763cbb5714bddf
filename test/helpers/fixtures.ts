/** Paths of the committed fixtures and helpers that materialize files in a temp dir. */
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync, ftruncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const FIXTURES = join(ROOT, "test/fixtures");
/** The bundled default model (gguf/README.md). */
export const TINY_Q8 = join(ROOT, "gguf/tiny-code-q8_0.gguf");
/** Size of ../shared/models/tiny-code/tiny-code-bf16.gguf, whose header bytes are committed. */
export const TINY_BF16_SIZE = 47572608;

export function tempDir(prefix = "mtp-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * The real tiny-code bf16 file for header-level tests: its committed header bytes followed by a
 * sparse (all-zero) data section of the original size. Everything a parser reads is the original.
 */
export function materializeBf16Header(dir = tempDir()): string {
  const path = join(dir, "tiny-code-bf16.gguf");
  writeFileSync(path, readFileSync(join(FIXTURES, "tiny-code-bf16.header.gguf")));
  const fd = openSync(path, "r+");
  ftruncateSync(fd, TINY_BF16_SIZE);
  closeSync(fd);
  return path;
}

/** The full tiny-code bf16 model, present where ../shared is (48 MB: not committed); tests skip visibly without it. */
export const TINY_BF16 = join(ROOT, "../shared/models/tiny-code/tiny-code-bf16.gguf");
