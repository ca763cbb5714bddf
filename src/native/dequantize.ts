/** Dequantizes raw ggml blocks with the native library (exposed for tests and tools). */
import { newMtpError } from "./abi.js";
import { loadNativeLibrary } from "./loadNativeLibrary.js";
import { checkStatus } from "./NativeModel.js";

export function dequantize(type: number, bytes: Uint8Array, nElements: number): Float32Array {
  const { fn } = loadNativeLibrary();
  const out = new Float32Array(nElements);
  const err = newMtpError();
  checkStatus("mtp_dequantize", fn.mtp_dequantize(type, bytes, bytes.length, out, nElements, err), err);
  return out;
}
