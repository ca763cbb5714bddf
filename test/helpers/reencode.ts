/**
 * tiny-code q8_0 re-encoded into other weight types (K-quants, F16, the low-bit formats) for the
 * parity tests (test/native/kquant-parity.test.ts) and the CUDA suite (test/gpu). The quantizers are
 * simple ones written from the block layouts (spec §7): what the tests check is that engines read
 * and multiply the same blocks the same way, not the quantizers' quality.
 */
import { readFileSync } from "node:fs";
import { parseGguf } from "../../src/gguf/parseGguf.js";
import { writeGguf, type GgufWriteTensor } from "../../src/gguf/writeGguf.js";
import { dequantize } from "../../src/native/dequantize.js";
import { TINY_Q8 } from "./fixtures.js";

export const F16 = 1, Q8_0 = 8, Q4_K = 12, Q5_K = 13, Q6_K = 14;
export const Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q2_K = 10, Q3_K = 11, IQ4_NL = 20, IQ4_XS = 23, MXFP4 = 39;

function f16Bits(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  // round to nearest even via Math.fround-free integer arithmetic on the f32 bits
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  const mant = u & 0x7fffff;
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - exp;
    let h = m >>> shift;
    const rest = m & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rest > half || (rest === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (exp << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++;
  return sign | h;
}

/** Q4_K (bits 4) or Q5_K (bits 5): per 32 values a 6-bit scale and min, per 256 an f16 d and dmin. */
function quantizeK45(x: Float32Array, bits: 4 | 5): Uint8Array {
  const blockBytes = bits === 4 ? 144 : 176;
  const out = new Uint8Array((x.length / 256) * blockBytes);
  const view = new DataView(out.buffer);
  const qmax = (1 << bits) - 1;
  for (let b = 0; b < x.length / 256; b++) {
    const xb = x.subarray(b * 256, b * 256 + 256);
    const scale = new Float64Array(8), min = new Float64Array(8);
    for (let s = 0; s < 8; s++) {
      let lo = 0, hi = -Infinity;
      for (let l = 0; l < 32; l++) {
        lo = Math.min(lo, xb[32 * s + l]!);
        hi = Math.max(hi, xb[32 * s + l]!);
      }
      scale[s] = (hi - lo) / qmax;
      min[s] = -lo;
    }
    const d = Math.max(...scale) / 63, dmin = Math.max(...min) / 63;
    const dh = f16Bits(d), dminh = f16Bits(dmin);
    const df = dequantize(F16, new Uint8Array(new Uint16Array([dh]).buffer), 1)[0]!;
    const dminf = dequantize(F16, new Uint8Array(new Uint16Array([dminh]).buffer), 1)[0]!;
    const sc = scale.map((v) => (df > 0 ? Math.min(63, Math.round(v / df)) : 0));
    const m = min.map((v) => (dminf > 0 ? Math.min(63, Math.round(v / dminf)) : 0));
    const base = b * blockBytes;
    view.setUint16(base, dh, true);
    view.setUint16(base + 2, dminh, true);
    for (let j = 0; j < 4; j++) {
      out[base + 4 + j] = sc[j]! | ((sc[j + 4]! >> 4) << 6);
      out[base + 4 + j + 4] = m[j]! | ((m[j + 4]! >> 4) << 6);
      out[base + 4 + j + 8] = (sc[j + 4]! & 0xf) | ((m[j + 4]! & 0xf) << 4);
    }
    const q = new Uint8Array(256);
    for (let e = 0; e < 256; e++) {
      const s = e >> 5, step = df * sc[s]!;
      q[e] = step > 0 ? Math.max(0, Math.min(qmax, Math.round((xb[e]! + dminf * m[s]!) / step))) : 0;
    }
    const qs = base + (bits === 4 ? 16 : 48), qh = base + 16;
    for (let g = 0; g < 4; g++) {
      for (let l = 0; l < 32; l++) {
        const lo = q[64 * g + l]!, hi = q[64 * g + 32 + l]!;
        out[qs + 32 * g + l] = (lo & 0xf) | ((hi & 0xf) << 4);
        if (bits === 5) out[qh + l]! |= ((lo >> 4) << (2 * g)) | ((hi >> 4) << (2 * g + 1));
      }
    }
  }
  return out;
}

/** Q6_K: per 16 values an int8 scale, per 256 an f16 d; values in [-32, 31]. */
function quantizeQ6K(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / 256) * 210);
  const view = new DataView(out.buffer);
  for (let b = 0; b < x.length / 256; b++) {
    const xb = x.subarray(b * 256, b * 256 + 256);
    const scale = new Float64Array(16);
    for (let j = 0; j < 16; j++) {
      let amax = 0;
      for (let l = 0; l < 16; l++) amax = Math.max(amax, Math.abs(xb[16 * j + l]!));
      scale[j] = amax / 31;
    }
    const dh = f16Bits(Math.max(...scale) / 127);
    const df = dequantize(F16, new Uint8Array(new Uint16Array([dh]).buffer), 1)[0]!;
    const sc = Array.from(scale, (v) => (df > 0 ? Math.min(127, Math.round(v / df)) : 0));
    const q = new Uint8Array(256);
    for (let e = 0; e < 256; e++) {
      const step = df * sc[e >> 4]!;
      q[e] = (step > 0 ? Math.max(-32, Math.min(31, Math.round(xb[e]! / step))) : 0) + 32;
    }
    const base = b * 210;
    for (let n = 0; n < 2; n++) {
      for (let l = 0; l < 32; l++) {
        const [q0, q1, q2, q3] = [0, 1, 2, 3].map((k) => q[128 * n + 32 * k + l]!) as [number, number, number, number];
        out[base + 64 * n + l] = (q0 & 0xf) | ((q2 & 0xf) << 4);
        out[base + 64 * n + 32 + l] = (q1 & 0xf) | ((q3 & 0xf) << 4);
        out[base + 128 + 32 * n + l] = (q0 >> 4) | ((q1 >> 4) << 2) | ((q2 >> 4) << 4) | ((q3 >> 4) << 6);
      }
    }
    for (let j = 0; j < 16; j++) view.setInt8(base + 192 + j, sc[j]!);
    view.setUint16(base + 208, dh, true);
  }
  return out;
}

/** The f16 value nearest x, as the engine reads it back. */
function f16Round(x: number): [number, number] {
  const h = f16Bits(x);
  return [h, dequantize(F16, new Uint8Array(new Uint16Array([h]).buffer), 1)[0]!];
}

const IQ4_VALUES = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
const E2M1_DOUBLED = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];
const nearest = (table: number[], v: number) => table.reduce((best, t, i) => (Math.abs(t - v) < Math.abs(table[best]! - v) ? i : best), 0);

/** 32 4-bit codes into 16 bytes: value i in the low nibble of byte i, value i + 16 in the high one. */
function packNibbles(codes: number[], out: Uint8Array, at: number): void {
  for (let i = 0; i < 16; i++) out[at + i] = (codes[i]! & 0xf) | ((codes[i + 16]! & 0xf) << 4);
}

/** The 32-value formats: Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, MXFP4 (spec §7). */
function quantize32(x: Float32Array, type: number): Uint8Array {
  const bytes = { [Q4_0]: 18, [Q4_1]: 20, [Q5_0]: 22, [Q5_1]: 24, [IQ4_NL]: 18, [MXFP4]: 17 }[type]!;
  const out = new Uint8Array((x.length / 32) * bytes);
  const view = new DataView(out.buffer);
  for (let b = 0; b < x.length / 32; b++) {
    const xb = Array.from(x.subarray(32 * b, 32 * b + 32));
    const at = b * bytes;
    const lo = Math.min(...xb), hi = Math.max(...xb), amax = Math.max(-lo, hi);
    let codes: number[];
    if (type === Q4_1 || type === Q5_1) {
      const qmax = type === Q4_1 ? 15 : 31;
      const [dh, d] = f16Round((hi - lo) / qmax);
      const [mh, m] = f16Round(lo);
      view.setUint16(at, dh, true);
      view.setUint16(at + 2, mh, true);
      codes = xb.map((v) => (d > 0 ? Math.max(0, Math.min(qmax, Math.round((v - m) / d))) : 0));
    } else if (type === Q4_0 || type === Q5_0) {
      const half = type === Q4_0 ? 8 : 16;
      const [dh, d] = f16Round(amax / (half - 1));
      view.setUint16(at, dh, true);
      codes = xb.map((v) => (d > 0 ? Math.max(-half, Math.min(half - 1, Math.round(v / d))) : 0) + half);
    } else if (type === IQ4_NL) {
      const [dh, d] = f16Round(amax / 127);
      view.setUint16(at, dh, true);
      codes = xb.map((v) => (d > 0 ? nearest(IQ4_VALUES, v / d) : 8));
    } else {
      // MXFP4: d = 2^(e − 128) covers amax with the largest doubled value 12
      const e = amax > 0 ? Math.max(2, Math.min(254, Math.floor(Math.log2(amax)) - 2 + 127)) : 0;
      out[at] = e;
      const d = 2 ** (e - 128);
      codes = xb.map((v) => (e > 0 ? nearest(E2M1_DOUBLED, v / d) : 0));
    }
    const qs = at + (type === Q4_0 || type === IQ4_NL ? 2 : type === Q4_1 || type === Q5_0 ? (type === Q5_0 ? 6 : 4) : type === Q5_1 ? 8 : 1);
    packNibbles(codes, out, qs);
    if (type === Q5_0 || type === Q5_1) {
      let qh = 0;
      for (let j = 0; j < 32; j++) qh |= ((codes[j]! >> 4) & 1) << j;
      view.setUint32(at + (type === Q5_0 ? 2 : 4), qh >>> 0, true);
    }
  }
  return out;
}

/** The 256-value formats: Q2_K (84 bytes), Q3_K (110), IQ4_XS (136) (spec §7). */
function quantize256(x: Float32Array, type: number): Uint8Array {
  const bytes = { [Q2_K]: 84, [Q3_K]: 110, [IQ4_XS]: 136 }[type]!;
  const out = new Uint8Array((x.length / 256) * bytes);
  const view = new DataView(out.buffer);
  for (let b = 0; b < x.length / 256; b++) {
    const xb = x.subarray(256 * b, 256 * b + 256);
    const at = b * bytes;
    if (type === Q2_K) {
      // per 16: x ≈ d·sc·q − dmin·m, q in 0..3, sc and m 4-bit
      const scale: number[] = [], min: number[] = [];
      for (let j = 0; j < 16; j++) {
        const g = Array.from(xb.subarray(16 * j, 16 * j + 16));
        const lo = Math.min(0, ...g);
        scale.push((Math.max(...g) - lo) / 3);
        min.push(-lo);
      }
      const [dh, d] = f16Round(Math.max(...scale) / 15);
      const [mh, dm] = f16Round(Math.max(...min) / 15);
      view.setUint16(at + 80, dh, true);
      view.setUint16(at + 82, mh, true);
      for (let j = 0; j < 16; j++) {
        const sc = d > 0 ? Math.min(15, Math.round(scale[j]! / d)) : 0, m = dm > 0 ? Math.min(15, Math.round(min[j]! / dm)) : 0;
        out[at + j] = sc | (m << 4);
        for (let l = 0; l < 16; l++) {
          const p = 16 * j + l, step = d * sc;
          const q = step > 0 ? Math.max(0, Math.min(3, Math.round((xb[p]! + dm * m) / step))) : 0;
          out[at + 16 + Math.floor(p / 128) * 32 + (p % 32)]! |= q << (2 * Math.floor((p % 128) / 32));
        }
      }
    } else if (type === Q3_K) {
      // per 16: x ≈ d·sc·q, q in −4..3, sc signed 6-bit
      const scale: number[] = [];
      for (let j = 0; j < 16; j++) scale.push(Math.max(...Array.from(xb.subarray(16 * j, 16 * j + 16), Math.abs)) / 4);
      const [dh, d] = f16Round(Math.max(...scale) / 31);
      view.setUint16(at + 108, dh, true);
      for (let j = 0; j < 16; j++) {
        const sc = d > 0 ? Math.min(31, Math.round(scale[j]! / d)) : 0, u6 = sc + 32;
        out[at + 96 + (j % 8)]! |= (u6 & 0xf) << (4 * Math.floor(j / 8));
        out[at + 96 + 8 + (j % 4)]! |= (u6 >> 4) << (2 * Math.floor(j / 4));
        for (let l = 0; l < 16; l++) {
          const p = 16 * j + l, step = d * sc;
          const u = (step > 0 ? Math.max(-4, Math.min(3, Math.round(xb[p]! / step))) : 0) + 4;
          out[at + 32 + Math.floor(p / 128) * 32 + (p % 32)]! |= (u & 3) << (2 * Math.floor((p % 128) / 32));
          out[at + (p % 32)]! |= (u >> 2) << Math.floor(p / 32);
        }
      }
    } else {
      // IQ4_XS: per 32 a signed 6-bit scale of the IQ4 values
      const scale: number[] = [];
      for (let ib = 0; ib < 8; ib++) scale.push(Math.max(...Array.from(xb.subarray(32 * ib, 32 * ib + 32), Math.abs)) / 127);
      const [dh, d] = f16Round(Math.max(...scale) / 31);
      view.setUint16(at, dh, true);
      let scalesH = 0;
      for (let ib = 0; ib < 8; ib++) {
        const ls = d > 0 ? Math.max(1, Math.min(31, Math.round(scale[ib]! / d))) : 1, u6 = ls + 32;
        out[at + 4 + (ib >> 1)]! |= (u6 & 0xf) << (4 * (ib & 1));
        scalesH |= (u6 >> 4) << (2 * ib);
        const step = d * ls;
        packNibbles(Array.from(xb.subarray(32 * ib, 32 * ib + 32), (v) => (step > 0 ? nearest(IQ4_VALUES, v / step) : 8)), out, at + 8 + 16 * ib);
      }
      view.setUint16(at + 2, scalesH, true);
    }
  }
  return out;
}

function toF16(x: Float32Array): Uint8Array {
  return new Uint8Array(Uint16Array.from(x, f16Bits).buffer);
}

/**
 * The K-quant mix: ffn_down / ssm_out (the trunk's only matrices whose rows are a multiple of 256)
 * Q4_K, Q5_K, Q6_K by layer, attn_gate and token_embd F16, the rest Q8_0.
 */
export function kquantMix(name: string, type: number): number {
  if (type !== Q8_0) return type;
  const m = /^blk\.(\d+)\.(ffn_down|ssm_out)\.weight$/.exec(name);
  if (m) return [Q4_K, Q5_K, Q6_K][Number(m[1]) % 3]!;
  if (/attn_gate\.weight$/.test(name) || name === "token_embd.weight") return F16;
  return type;
}

/** tiny-code q8_0 with the tensors `target` names re-encoded; the counts of each resulting type. */
export function reencode(path: string, target: (name: string, type: number) => number): Map<number, number> {
  const counts = new Map<number, number>();
  const file = parseGguf(TINY_Q8);
  const bytes = readFileSync(TINY_Q8);
  const tensors: GgufWriteTensor[] = file.tensors.map((t) => {
    const data = new Uint8Array(bytes.buffer, bytes.byteOffset + t.fileOffset, t.nBytes);
    const type = target(t.name, t.type);
    counts.set(type, (counts.get(type) ?? 0) + 1);
    if (type === t.type) return { name: t.name, type, ne: [...t.ne], data };
    const x = dequantize(t.type, data, t.nElements);
    const q =
      type === F16 ? toF16(x)
      : type === Q6_K ? quantizeQ6K(x)
      : type === Q4_K || type === Q5_K ? quantizeK45(x, type === Q4_K ? 4 : 5)
      : type === Q2_K || type === Q3_K || type === IQ4_XS ? quantize256(x, type)
      : quantize32(x, type);
    return { name: t.name, type, ne: [...t.ne], data: q };
  });
  writeGguf(path, { alignment: file.alignment, kv: [...file.kv.values()].filter((e) => e.key !== "general.alignment"), tensors });
  return counts;
}

