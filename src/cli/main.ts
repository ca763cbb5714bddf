/**
 * The mtp-cli program: a commander root with one file per command. Errors thrown by commands are
 * typed (src/errors.ts) and become a one-line message on stderr plus the exit code of their kind:
 * 0 ok, 1 usage, 2 bad model file, 3 native/GPU failure, 130 interrupted.
 */
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { MtpError } from "../errors.js";
import { registerBench } from "./commands/bench.js";
import { registerGenerate } from "./commands/generate.js";
import { registerInspectGguf } from "./commands/inspectGguf.js";
import { registerTokenize } from "./commands/tokenize.js";

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

export function buildProgram(): Command {
  const program = new Command("mtp-cli")
    .description("Run Qwen3.5/Qwen3.6 GGUF models with multi-token-prediction (MTP) self-speculative decoding")
    .version(packageVersion(), "-v, --version")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  registerGenerate(program);
  registerBench(program);
  registerInspectGguf(program);
  registerTokenize(program);
  for (const c of program.commands) c.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = exitCodeFor(err);
  }
}

function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) {
    // --help and --version end here too, with exit code 0; commander already printed the message.
    return err.exitCode === 0 ? 0 : 1;
  }
  if (err instanceof MtpError) {
    process.stderr.write(`mtp-cli: ${err.name}: ${err.message}\n`);
    return err.exitCode;
  }
  process.stderr.write(`mtp-cli: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 3;
}
