// The koffi mirror (src/native/abi.ts) must match cuda/include/mtp.h byte for byte: the library
// reports sizeof/offsetof of every public struct, compared here with koffi's view of the mirror.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import koffi from "koffi";
import { describe, expect, it } from "vitest";
import { BlockTensor } from "../../src/gguf/names.js";
import {
  ABI_STRUCTS,
  MTP_ABI_VERSION,
  MTP_ERROR_MESSAGE_BYTES,
  MTP_TENSOR_ROLE,
  MtpArch,
  MtpBackend,
  MtpLayerKind,
  MtpStatus,
} from "../../src/native/abi.js";
import { loadNativeLibrary } from "../../src/native/loadNativeLibrary.js";
import { ROOT } from "../helpers/fixtures.js";

const header = readFileSync(join(ROOT, "cuda/include/mtp.h"), "utf8");

/** `PREFIX_NAME = value` enumerators of mtp.h, by NAME. */
function enumerators(prefix: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of header.matchAll(new RegExp(`\\b${prefix}_(\\w+) = (\\d+)`, "g"))) out[m[1]!] = Number(m[2]);
  return out;
}
const upperSnake = (camel: string) =>
  camel.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/([A-Z])([A-Z][a-z])/g, "$1_$2").toUpperCase();

describe("native ABI", () => {
  it("loads the library and reports the ABI version of abi.ts", () => {
    const lib = loadNativeLibrary();
    expect(lib.fn.mtp_abi_version()).toBe(MTP_ABI_VERSION);
    expect(lib.backends & 1).toBe(1); // CPU
  });

  for (const [id, type] of ABI_STRUCTS) {
    it(`struct ${koffi.introspect(type).name}: size and field offsets match mtp.h`, () => {
      const { fn } = loadNativeLibrary();
      const out = new BigUint64Array(64);
      const n = fn.mtp_abi_get_layout(id, out, out.length);
      const info = koffi.introspect(type) as unknown as { size: number; members: Record<string, { offset: number }> };
      const members = Object.keys(info.members);
      expect(n).toBe(1 + members.length);
      const native = Array.from(out.subarray(0, n), Number);
      const mirror = [koffi.sizeof(type), ...members.map((m) => koffi.offsetof(type, m))];
      expect(mirror).toEqual(native);
    });
  }

  it("mtp_tensor_role mirrors every TS role in mtp.h order", () => {
    const roles = ["tokenEmbd", "outputNorm", "output", ...Object.keys(BlockTensor)];
    expect(Object.keys(MTP_TENSOR_ROLE)).toEqual(roles);
    expect(Object.values(MTP_TENSOR_ROLE)).toEqual(roles.map((_, i) => i));
  });

  it("enums and constants of abi.ts equal mtp.h's", () => {
    expect(header).toMatch(new RegExp(`#define MTP_ABI_VERSION ${MTP_ABI_VERSION}u`));
    expect(header).toMatch(new RegExp(`#define MTP_ERROR_MESSAGE_BYTES ${MTP_ERROR_MESSAGE_BYTES}\\b`));
    expect(enumerators("MTP_STATUS")).toEqual(MtpStatus);
    expect(enumerators("MTP_BACKEND")).toEqual(MtpBackend);
    expect(enumerators("MTP_ARCH")).toEqual(Object.fromEntries(Object.entries(MtpArch).map(([k, v]) => [k.toUpperCase(), v])));
    expect(enumerators("MTP_LAYER_KIND")).toEqual(Object.fromEntries(Object.entries(MtpLayerKind).map(([k, v]) => [k.toUpperCase(), v])));
    const roles = Object.fromEntries(Object.entries(MTP_TENSOR_ROLE).map(([k, v]) => [upperSnake(k), v]));
    expect(enumerators("MTP_ROLE")).toEqual({ ...roles, COUNT: Object.keys(roles).length });
  });

  it("refuses an unknown struct id and a too small buffer", () => {
    const { fn } = loadNativeLibrary();
    const out = new BigUint64Array(64);
    expect(fn.mtp_abi_get_layout(99, out, out.length)).toBe(0);
    expect(fn.mtp_abi_get_layout(0, out, 2)).toBe(0);
  });
});
