/** Dispatches a parsed GGUF file to its architecture description (one file per architecture). */
import { ModelDescriptionError } from "../errors.js";
import { GgufMetadata } from "../gguf/GgufMetadata.js";
import { KEY_GENERAL_ARCHITECTURE } from "../gguf/names.js";
import type { GgufFile } from "../gguf/types.js";
import type { ModelDescription } from "./ModelDescription.js";
import { describeQwen35 } from "./qwen35.js";
import { describeQwen35Moe } from "./qwen35moe.js";

const ARCHITECTURES: Record<string, (file: GgufFile) => ModelDescription> = {
  qwen35: describeQwen35,
  qwen35moe: describeQwen35Moe,
};

export const SUPPORTED_ARCHITECTURES = Object.keys(ARCHITECTURES);

export function describeModel(file: GgufFile): ModelDescription {
  const arch = new GgufMetadata(file.kv).string(KEY_GENERAL_ARCHITECTURE);
  const describe = ARCHITECTURES[arch];
  if (!describe) {
    throw new ModelDescriptionError(
      `${KEY_GENERAL_ARCHITECTURE}: expected one of ${SUPPORTED_ARCHITECTURES.map((a) => JSON.stringify(a)).join(", ")}, got ${JSON.stringify(arch)}`,
    );
  }
  return describe(file);
}
