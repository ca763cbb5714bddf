/** The prompt of a command: exactly one of `-p TEXT` or `-f FILE` (UTF-8, read byte-exact). */
import { readFileSync } from "node:fs";
import { UsageError } from "../errors.js";

// ignoreBOM: a file's leading U+FEFF is part of the prompt, as llama.cpp reads the raw bytes
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export function readPrompt(command: string, prompt: string | undefined, file: string | undefined): string {
  if ((prompt === undefined) === (file === undefined)) {
    throw new UsageError(`${command}: expected exactly one of -p TEXT or -f FILE, got ${prompt === undefined ? "neither" : "both"}`);
  }
  if (prompt !== undefined) return prompt;
  let bytes: Buffer;
  try {
    bytes = readFileSync(file!);
  } catch (e) {
    throw new UsageError(`-f ${file}: expected a readable file, got ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  try {
    return strictUtf8.decode(bytes);
  } catch {
    // a JS string cannot hold invalid UTF-8, and silently replacing bytes would change the ids
    throw new UsageError(`-f ${file}: expected UTF-8 text, got invalid UTF-8`);
  }
}
