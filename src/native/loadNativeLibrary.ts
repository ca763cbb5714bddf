/**
 * Finds libmtp, loads it with koffi and probes it (ABI version) once per process. A missing,
 * unloadable or mismatched library becomes a NativeError that names the command to build it.
 *
 * Search order: $MTP_NATIVE_LIBRARY (an explicit path), then cuda/build/libmtp.so of this package
 * (where scripts/build-native.mjs puts it).
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import koffi from "koffi";
import { NativeError } from "../errors.js";
import { bindMtpFunctions, MTP_ABI_VERSION, type MtpFunctions } from "./abi.js";

export const NATIVE_BUILD_COMMAND = "npm run build:native";

export interface NativeLibrary {
  path: string;
  fn: MtpFunctions;
  /** Bit set of (1 << mtp_backend) compiled into the library. */
  backends: number;
}

let loaded: NativeLibrary | undefined;

/** The default location, relative to this file in src/native or dist/native. */
export function defaultNativeLibraryPath(): string {
  return fileURLToPath(new URL("../../cuda/build/libmtp.so", import.meta.url));
}

export function loadNativeLibrary(): NativeLibrary {
  if (loaded) return loaded;
  const fromEnv = process.env.MTP_NATIVE_LIBRARY;
  const path = fromEnv && fromEnv.length > 0 ? fromEnv : defaultNativeLibraryPath();
  loaded = openNativeLibrary(path, fromEnv ? `$MTP_NATIVE_LIBRARY (${path})` : path);
  return loaded;
}

/** Loads and probes the library at `path` (uncached); `where` names it in messages. */
export function openNativeLibrary(path: string, where = path): NativeLibrary {
  if (!existsSync(path)) {
    throw new NativeError(`native library ${where}: not found — build it with \`${NATIVE_BUILD_COMMAND}\` in the mtp-cli folder`);
  }
  let fn: MtpFunctions;
  try {
    fn = bindMtpFunctions(koffi.load(path));
  } catch (err) {
    throw new NativeError(
      `native library ${where}: cannot be loaded (${err instanceof Error ? err.message : String(err)}) — rebuild it with \`${NATIVE_BUILD_COMMAND}\``,
    );
  }
  const version = fn.mtp_abi_version();
  if (version !== MTP_ABI_VERSION) {
    throw new NativeError(
      `native library ${where}: expected ABI version ${MTP_ABI_VERSION}, got ${version} — rebuild it with \`${NATIVE_BUILD_COMMAND}\``,
    );
  }
  return { path, fn, backends: fn.mtp_abi_get_backends() };
}
