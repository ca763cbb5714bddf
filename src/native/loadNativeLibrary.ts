/**
 * Finds libmtp, loads it with koffi and probes it (ABI version) once per process. A missing,
 * unloadable or mismatched library becomes a NativeError that names the path and the fix.
 *
 * Search order (nativeLibraryCandidates):
 *   1. $MTP_NATIVE_LIBRARY, else $MTP_LIB (its short alias): an explicit path, used as given — a
 *      wrong one is an error, never skipped;
 *   2. cuda/build/libmtp.so of this package (built here by `npm run build:native`, run by npm install);
 *   3. prebuilt/linux-x64/libmtp.so of this package (made by `npm run build:prebuilt` on a machine with
 *      nvcc, for one with only the NVIDIA driver), on linux x64 only.
 * The first of 2 and 3 that exists is loaded; when neither does, the error names the build command.
 * A local build without a usable CUDA backend (npm install found no nvcc) gives way to a prebuilt
 * library that has one, so a driver-only machine uses the GPU once the prebuilt file is in place.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import koffi from "koffi";
import { NativeError } from "../errors.js";
import { bindMtpFunctions, MtpBackend, MTP_ABI_VERSION, type MtpFunctions } from "./abi.js";

export const NATIVE_BUILD_COMMAND = "npm run build:native";

export interface NativeLibrary {
  path: string;
  fn: MtpFunctions;
  /** Bit set of (1 << mtp_backend) compiled into the library. */
  backends: number;
}

/** A place libmtp may be: its path and how messages name it. */
export interface LibraryCandidate {
  path: string;
  /** "$MTP_LIB (/x/libmtp.so)" for an explicit path, else the path itself. */
  where: string;
  /** From the environment: loaded (or reported) even when missing, never skipped. */
  explicit: boolean;
}

let loaded: NativeLibrary | undefined;

/** The library `npm run build:native` builds, relative to this file in src/native or dist/native. */
export function defaultNativeLibraryPath(): string {
  return fileURLToPath(new URL("../../cuda/build/libmtp.so", import.meta.url));
}

/** The library `npm run build:prebuilt` makes (linux x64 only). */
export function prebuiltNativeLibraryPath(): string {
  return fileURLToPath(new URL("../../prebuilt/linux-x64/libmtp.so", import.meta.url));
}

/**
 * Where to look for libmtp, in order: an explicit path from the environment alone, else the local
 * build and then (on linux x64) the prebuilt library.
 */
export function nativeLibraryCandidates(
  env: NodeJS.ProcessEnv = process.env,
  platform: string = process.platform,
  arch: string = process.arch,
): LibraryCandidate[] {
  for (const name of ["MTP_NATIVE_LIBRARY", "MTP_LIB"]) {
    const path = env[name];
    if (path) return [{ path, where: `$${name} (${path})`, explicit: true }];
  }
  const local = defaultNativeLibraryPath();
  const candidates: LibraryCandidate[] = [{ path: local, where: local, explicit: false }];
  if (platform === "linux" && arch === "x64") {
    const prebuilt = prebuiltNativeLibraryPath();
    candidates.push({ path: prebuilt, where: prebuilt, explicit: false });
  }
  return candidates;
}

/** The candidate to load: an explicit one, else the first that exists, else the local build (not found). */
export function chooseNativeLibrary(candidates: LibraryCandidate[], exists: (path: string) => boolean = existsSync): LibraryCandidate {
  const first = candidates[0];
  if (!first) throw new Error("chooseNativeLibrary: no candidates");
  if (first.explicit) return first;
  return candidates.find((c) => exists(c.path)) ?? first;
}

const CUDA_BIT = 1 << MtpBackend.CUDA;

export function loadNativeLibrary(): NativeLibrary {
  if (loaded) return loaded;
  const candidates = nativeLibraryCandidates();
  const { path, where } = chooseNativeLibrary(candidates);
  let lib = openNativeLibrary(path, where);
  const prebuilt = candidates.find((c) => !c.explicit && c.path !== path && existsSync(c.path));
  if ((lib.backends & CUDA_BIT) === 0 && prebuilt) {
    try {
      const other = openNativeLibrary(prebuilt.path, prebuilt.where);
      if ((other.backends & CUDA_BIT) !== 0) lib = other;
    } catch {
      // an unusable prebuilt file leaves the local build in place
    }
  }
  loaded = lib;
  return loaded;
}

/** Loads and probes the library at `path` (uncached); `where` names it in messages. */
export function openNativeLibrary(path: string, where = path): NativeLibrary {
  if (!existsSync(path)) {
    throw new NativeError(
      `native library ${where}: not found — build it with \`${NATIVE_BUILD_COMMAND}\` in the mtp-cli folder ` +
        `(or point $MTP_LIB at a libmtp.so made by \`npm run build:prebuilt\`)`,
    );
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
