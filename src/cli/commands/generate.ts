/** `mtp-cli generate`: registered so the command surface is complete; the engine is not built yet. */
import type { Command } from "commander";
import { MtpError } from "../../errors.js";

export function registerGenerate(program: Command): void {
  program
    .command("generate")
    .description("generate text, drafting tokens with the model's MTP head (not available yet)")
    .option("-m, --model <file>", "GGUF model file")
    .option("-p, --prompt <text>", "prompt text")
    .action(() => {
      throw new MtpError("generate is not available yet: the inference engine has not been built (see the issue tracker)", 3);
    });
}
