// Where the CLI looks for libmtp (src/native/loadNativeLibrary.ts): $MTP_NATIVE_LIBRARY, else $MTP_LIB,
// else cuda/build/libmtp.so, else prebuilt/linux-x64/libmtp.so (linux x64 only). Pure path logic
// with injected environments and existence, plus the messages for a wrong explicit path.
import { copyFileSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  chooseNativeLibrary,
  nativeLibraryCandidates,
  openNativeLibrary,
  type LibraryCandidate,
} from "../../src/native/loadNativeLibrary.js";
import { runCli } from "../helpers/cli.js";
import { ROOT, tempDir } from "../helpers/fixtures.js";

const LOCAL = join(ROOT, "cuda/build/libmtp.so");
const PREBUILT = join(ROOT, "prebuilt/linux-x64/libmtp.so");

const paths = (cs: LibraryCandidate[]) => cs.map((c) => c.path);
const only = (...present: string[]) => (p: string) => present.includes(p);

describe("native library lookup order", () => {
  it("without an override: the local build, then the prebuilt library (linux x64)", () => {
    const cs = nativeLibraryCandidates({}, "linux", "x64");
    expect(paths(cs)).toEqual([LOCAL, PREBUILT]);
    expect(cs.every((c) => !c.explicit && c.where === c.path)).toBe(true);
    expect(chooseNativeLibrary(cs, only(LOCAL, PREBUILT)).path).toBe(LOCAL);
    expect(chooseNativeLibrary(cs, only(PREBUILT)).path).toBe(PREBUILT);
    // neither exists: the local build is reported (its message names the build command)
    expect(chooseNativeLibrary(cs, only()).path).toBe(LOCAL);
  });

  it("the prebuilt library is looked for on linux x64 only", () => {
    expect(paths(nativeLibraryCandidates({}, "linux", "arm64"))).toEqual([LOCAL]);
    expect(paths(nativeLibraryCandidates({}, "darwin", "x64"))).toEqual([LOCAL]);
  });

  it("$MTP_LIB is an explicit path: used alone, even when it does not exist", () => {
    const cs = nativeLibraryCandidates({ MTP_LIB: "/opt/x/libmtp.so" }, "linux", "x64");
    expect(cs).toEqual([{ path: "/opt/x/libmtp.so", where: "$MTP_LIB (/opt/x/libmtp.so)", explicit: true }]);
    expect(chooseNativeLibrary(cs, only(LOCAL, PREBUILT)).path).toBe("/opt/x/libmtp.so");
  });

  it("$MTP_NATIVE_LIBRARY wins over $MTP_LIB; empty values are ignored", () => {
    const both = nativeLibraryCandidates({ MTP_NATIVE_LIBRARY: "/a/libmtp.so", MTP_LIB: "/b/libmtp.so" }, "linux", "x64");
    expect(both).toEqual([{ path: "/a/libmtp.so", where: "$MTP_NATIVE_LIBRARY (/a/libmtp.so)", explicit: true }]);
    expect(paths(nativeLibraryCandidates({ MTP_NATIVE_LIBRARY: "", MTP_LIB: "/b/libmtp.so" }, "linux", "x64"))).toEqual(["/b/libmtp.so"]);
    expect(paths(nativeLibraryCandidates({ MTP_NATIVE_LIBRARY: "", MTP_LIB: "" }, "linux", "x64"))).toEqual([LOCAL, PREBUILT]);
  });

  it("with real files: the first existing one is chosen", () => {
    const dir = tempDir();
    const a = join(dir, "a.so");
    const b = join(dir, "b.so");
    writeFileSync(b, "");
    const cs = [a, b].map((path) => ({ path, where: path, explicit: false }));
    expect(chooseNativeLibrary(cs).path).toBe(b);
    writeFileSync(a, "");
    expect(chooseNativeLibrary(cs).path).toBe(a);
  });
});

describe("an explicit path that is wrong", () => {
  it("missing: the message names the variable, the path and the fix", () => {
    const path = join(tempDir(), "libmtp.so");
    const [c] = nativeLibraryCandidates({ MTP_LIB: path });
    expect(() => openNativeLibrary(c!.path, c!.where)).toThrow(
      `native library $MTP_LIB (${path}): not found — build it with \`npm run build:native\``,
    );
  });

  it("not a library: cannot be loaded, named", () => {
    const path = join(tempDir(), "libmtp.so");
    writeFileSync(path, "not an ELF file");
    expect(() => openNativeLibrary(path, `$MTP_LIB (${path})`)).toThrow(/native library \$MTP_LIB \(.*\): cannot be loaded/);
  });

  it.runIf(existsSync(LOCAL))("a copy of the built library loads from $MTP_LIB (ABI checked)", () => {
    const path = join(tempDir(), "libmtp.so");
    copyFileSync(LOCAL, path);
    const [c] = nativeLibraryCandidates({ MTP_LIB: path });
    const lib = openNativeLibrary(c!.path, c!.where);
    expect(lib.path).toBe(path);
    expect(lib.backends & 1).toBe(1); // the CPU backend is always there
  });

  it("the CLI exits with 3 and names $MTP_LIB", () => {
    const path = join(tempDir(), "missing.so");
    const r = runCli(["generate", "-p", "x", "-n", "1"], { env: { MTP_LIB: path, MTP_NATIVE_LIBRARY: "" } });
    expect(r.status).toBe(3);
    expect(r.stderr).toContain(`native library $MTP_LIB (${path}): not found`);
  });
});
