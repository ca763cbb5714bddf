/** `mtp-cli bench`: registered so the command surface is complete; the engine is not built yet. */
import type { Command } from "commander";
import { MtpError } from "../../errors.js";

export function registerBench(program: Command): void {
  program
    .command("bench")
    .description("measure prompt processing and decode speed with and without MTP speculation (not available yet)")
    .option("-m, --model <file>", "GGUF model file")
    .action(() => {
      throw new MtpError("bench is not available yet: the inference engine has not been built (see the issue tracker)", 3);
    });
}
