/** Runs the built CLI (bin/mtp-cli → dist/) as a child process, the way users do. */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./fixtures.js";

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): CliResult {
  const r = spawnSync(process.execPath, [join(ROOT, "bin/mtp-cli"), ...args], {
    encoding: "utf8",
    timeout: opts.timeoutMs ?? 60_000,
    env: { ...process.env, FORCE_COLOR: "0", ...opts.env },
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
