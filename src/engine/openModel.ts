/**
 * Opens a GGUF model for inference: parse and validate the header (src/gguf, src/arch), build the
 * tokenizer from its metadata, and load the weights into the native engine on the chosen backend.
 */
import { fileURLToPath } from "node:url";
import { describeModel } from "../arch/describeModel.js";
import { CUDA_WEIGHT_TYPES, type ModelDescription } from "../arch/ModelDescription.js";
import { ggmlTypeName } from "../gguf/ggmlTypes.js";
import { NativeError, UsageError } from "../errors.js";
import { parseGguf } from "../gguf/parseGguf.js";
import { MtpBackend } from "../native/abi.js";
import { loadNativeLibrary } from "../native/loadNativeLibrary.js";
import { NativeModel, type BackendName } from "../native/NativeModel.js";
import { Tokenizer } from "../tokenizer/Tokenizer.js";

/** The bundled default model (gguf/README.md). */
export const DEFAULT_MODEL_PATH = fileURLToPath(new URL("../../gguf/tiny-code-q8_0.gguf", import.meta.url));

export type BackendChoice = "auto" | "cuda" | "cpu";

export interface OpenedModel {
  path: string;
  description: ModelDescription;
  tokenizer: Tokenizer;
  native: NativeModel;
  backend: BackendName;
}

/**
 * auto → CUDA when the library has it, else CPU; an explicit choice the library lacks is an error.
 * The weight types outside CUDA_WEIGHT_TYPES run on the CPU backend only for now: auto picks it for
 * them.
 */
export function resolveBackend(choice: BackendChoice, description?: ModelDescription): BackendName {
  const hasCuda = (loadNativeLibrary().fn.mtp_abi_get_backends() & (1 << MtpBackend.CUDA)) !== 0;
  const cpuOnlyType = description?.manifest.find((t) => !CUDA_WEIGHT_TYPES.has(t.type));
  if (choice === "cpu") return "CPU";
  if (choice === "cuda") {
    if (!hasCuda) {
      throw new NativeError("--backend cuda: the native library has no CUDA backend here (built without nvcc, or no CUDA device or driver)");
    }
    if (cpuOnlyType) {
      throw new NativeError(`--backend cuda: tensor '${cpuOnlyType.name}' is ${ggmlTypeName(cpuOnlyType.type)}, which runs on the CPU backend only for now (--backend cpu)`);
    }
    return "CUDA";
  }
  return hasCuda && !cpuOnlyType ? "CUDA" : "CPU";
}

export function openModel(path: string, backend: BackendChoice = "auto"): OpenedModel {
  if (!["auto", "cuda", "cpu"].includes(backend)) throw new UsageError(`--backend: expected auto, cuda or cpu, got ${JSON.stringify(backend)}`);
  const file = parseGguf(path);
  const description = describeModel(file);
  const tokenizer = Tokenizer.fromGguf(file);
  const name = resolveBackend(backend, description);
  return { path, description, tokenizer, native: NativeModel.load(path, description, name), backend: name };
}
