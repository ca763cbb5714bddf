/**
 * Typed errors shared by every layer. Each carries the process exit code the CLI uses for it
 * (docs/style.md: 0 ok, 1 usage, 2 bad model file, 3 native/GPU failure, 130 interrupted), and a
 * message in the form "where: expected X, got Y" so a user can find the offending key or tensor.
 */

export class MtpError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** A bad flag or argument on the command line. */
export class UsageError extends MtpError {
  constructor(message: string) {
    super(message, 1);
  }
}

/** The model file is unreadable, malformed, truncated, hostile, or describes a model we cannot run. */
export class ModelFileError extends MtpError {
  constructor(message: string) {
    super(message, 2);
  }
}

/** The GGUF container itself is malformed (magic, version, counts, strings, offsets). */
export class GgufFormatError extends ModelFileError {
  /** Byte offset in the file where the problem was found. */
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(`${message} (at byte ${offset})`);
    this.offset = offset;
  }
}

/** The container is valid GGUF but the model it describes is not one we support or is inconsistent. */
export class ModelDescriptionError extends ModelFileError {}

/**
 * The native library is missing, unloadable or of another ABI version, or one of its calls failed
 * (its status and message are kept). Exit code 3.
 */
export class NativeError extends MtpError {
  /** mtp_status of the failed call; -1 when the library itself could not be used. */
  readonly status: number;
  constructor(message: string, status = -1) {
    super(message, 3);
    this.status = status;
  }
}
