/** commander argument parsers that turn a bad value into a UsageError naming the flag. */
import { UsageError } from "../errors.js";

export function intOption(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v) || n < min || n > max) throw new UsageError(`${name}: expected an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
    return n;
  };
}

export function floatOption(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
      throw new UsageError(`${name}: expected a number in ${min}..${max}, got ${JSON.stringify(v)}`);
    }
    return n;
  };
}
