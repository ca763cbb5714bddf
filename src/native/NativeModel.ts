/**
 * A model loaded into the native engine, and its sessions. Turns a validated ModelDescription
 * (src/arch) into the ABI's hparams + layer schedule + tensor manifest, and every failed native call
 * into a NativeError carrying the library's status and message.
 */
import koffi from "koffi";
import { ModelDescriptionError, NativeError } from "../errors.js";
import type { ModelDescription } from "../arch/ModelDescription.js";
import { ggmlTypeName } from "../gguf/ggmlTypes.js";
import {
  MTP_STATUS_NAMES,
  MTP_TENSOR_NAME_BYTES,
  MTP_TENSOR_ROLE,
  MtpArch,
  MtpBackend,
  MtpLayerKind,
  MtpStatus,
  MTP_STOP_REASONS,
  mtp_generate_params,
  mtp_generate_stats,
  mtp_hparams,
  mtp_model_params,
  mtp_session_params,
  mtp_tensor_info,
  newMtpError,
  type AsyncDone,
  type MtpErrorStruct,
  type StopReason,
} from "./abi.js";
import { loadNativeLibrary, type NativeLibrary } from "./loadNativeLibrary.js";

export type BackendName = keyof typeof MtpBackend;

/** Throws a NativeError for a failed call. */
export function checkStatus(what: string, status: number, err: MtpErrorStruct): void {
  if (status === MtpStatus.OK) return;
  const name = MTP_STATUS_NAMES[status] ?? `status ${status}`;
  throw new NativeError(`${what}: ${name}: ${err.message || "(no message)"}`, status);
}

/** The CUDA device's free and total memory in bytes (cudaMemGetInfo); throws without CUDA. */
export function deviceMemory(lib: NativeLibrary = loadNativeLibrary()): { free: number; total: number } {
  const err = newMtpError();
  const free: [number | bigint] = [0];
  const total: [number | bigint] = [0];
  checkStatus("mtp_abi_get_device_memory", lib.fn.mtp_abi_get_device_memory(free, total, err), err);
  return { free: Number(free[0]), total: Number(total[0]) };
}

/**
 * What the library's CUDA models and sessions hold on the device now (their allocations); the free
 * memory of deviceMemory also loses the CUDA driver's own share. 0 without the CUDA backend.
 */
export function allocatedDeviceBytes(lib: NativeLibrary = loadNativeLibrary()): number {
  return Number(lib.fn.mtp_abi_get_allocated_device_bytes());
}

export interface SessionOptions {
  /** KV cache capacity in positions. */
  nCtx: number;
  /** Worker threads; 0 or absent = hardware concurrency. */
  nThreads?: number;
  /** Longest draft speculative decoding will use (0..16; default 0 = plain decoding only). */
  nDraftMax?: number;
}

export interface GenerateOptions {
  /** K: tokens drafted by the MTP head per step; 0 = plain decoding. */
  draftMax: number;
  /** Tokens to generate; < 0 = until end of generation or context full. */
  nPredict: number;
  /** <= 0: greedy. */
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  seed: number;
  /** Token ids that end generation (emitted, then generation stops). */
  eogTokens: readonly number[];
}

export interface GenerateStats {
  stopReason: StopReason;
  nSteps: number;
  nDrafted: number;
  nAccepted: number;
  nGenerated: number;
}

export interface GenerateChunk {
  tokens: number[];
  stats: GenerateStats;
}

export interface EvalOptions {
  /** Batch rows whose logits are wanted (default: the last row). */
  logitRows?: readonly number[];
  /** Also return h_final for every row (the MTP head's input). */
  hidden?: boolean;
  /** Compute the rows' logits but leave them in the backend (a benchmark of the verify step). */
  dropLogits?: boolean;
}

export interface EvalResult {
  /** (logitRows.length, n_vocab); empty with dropLogits. */
  logits: Float32Array;
  /** (n_tokens, n_embd), when requested. */
  hidden?: Float32Array;
}

export class NativeSession {
  private handle: unknown;
  private busy = false;
  constructor(
    private readonly lib: NativeLibrary,
    handle: unknown,
    readonly nVocab: number,
    readonly nEmbd: number,
    readonly nCtx: number,
  ) {
    this.handle = handle;
  }

  get nPast(): number {
    return this.lib.fn.mtp_session_get_n_past(this.live());
  }

  /** Evaluates tokens at positions nPast, nPast + 1, … (blocks the calling thread). */
  eval(tokens: readonly number[] | Int32Array, options: EvalOptions = {}): EvalResult {
    const call = this.prepareEval(tokens, options);
    checkStatus("mtp_session_eval", this.lib.fn.mtp_session_eval(...call.args), call.err);
    return call.result;
  }

  /**
   * Like eval, on a worker thread, so the event loop keeps running. The session is busy until the
   * promise settles: any other call on it meanwhile throws (sessions are not thread-safe).
   */
  evalAsync(tokens: readonly number[] | Int32Array, options: EvalOptions = {}): Promise<EvalResult> {
    const call = this.prepareEval(tokens, options);
    return this.onWorker("mtp_session_eval", (done) => this.lib.fn.mtp_session_eval_async(...call.args, done), call.err, () => call.result);
  }

  private prepareEval(tokens: readonly number[] | Int32Array, options: EvalOptions) {
    const n = tokens.length;
    const start = this.nPast;
    const rows = Uint32Array.from(options.logitRows ?? (n > 0 ? [n - 1] : []));
    const logits = new Float32Array(options.dropLogits ? 0 : rows.length * this.nVocab);
    const hidden = options.hidden ? new Float32Array(n * this.nEmbd) : null;
    const positions = Int32Array.from({ length: n }, (_, i) => start + i);
    const err = newMtpError();
    const args = [
      this.live(),
      Int32Array.from(tokens),
      positions,
      n,
      rows.length ? rows : null,
      rows.length,
      rows.length && !options.dropLogits ? logits : null,
      hidden,
      err,
    ] as const;
    return { args, err, result: hidden ? { logits, hidden } : { logits } };
  }

  /** Keeps the first nKeep tokens of the last eval batch (rollback without re-evaluation). */
  keep(nKeep: number): void {
    const err = newMtpError();
    checkStatus("mtp_session_keep", this.lib.fn.mtp_session_keep(this.live(), nKeep, err), err);
  }

  /** Resets the session, evaluates the prompt and starts the native decode loop. */
  generateBegin(prompt: readonly number[], o: GenerateOptions): void {
    const err = newMtpError();
    const params = {
      size: koffi.sizeof(mtp_generate_params),
      draft_max: o.draftMax,
      n_predict: o.nPredict,
      top_k: o.topK,
      temperature: o.temperature,
      top_p: o.topP,
      min_p: o.minP,
      reserved: 0,
      seed: BigInt(o.seed),
    };
    const eog = o.eogTokens.length ? Int32Array.from(o.eogTokens) : null;
    const status = this.lib.fn.mtp_session_generate_begin(this.live(), params, Int32Array.from(prompt), prompt.length, eog, o.eogTokens.length, err);
    checkStatus("mtp_session_generate_begin", status, err);
  }

  /** Up to `capacity` generated tokens (an empty list once generation has stopped). */
  generateNext(capacity: number): GenerateChunk {
    const call = this.prepareNext(capacity);
    checkStatus("mtp_session_generate_next", this.lib.fn.mtp_session_generate_next(...call.args), call.err);
    return call.result();
  }

  /** generateNext on a worker thread (the event loop keeps running: streaming, Ctrl-C). */
  generateNextAsync(capacity: number): Promise<GenerateChunk> {
    const call = this.prepareNext(capacity);
    return this.onWorker("mtp_session_generate_next", (done) => this.lib.fn.mtp_session_generate_next_async(...call.args, done), call.err, call.result);
  }

  /**
   * Runs an async koffi call on a worker thread; the session is busy until it settles (any other
   * call on it meanwhile throws: sessions are not thread-safe).
   */
  private onWorker<T>(what: string, start: (done: AsyncDone) => void, err: MtpErrorStruct, result: () => T): Promise<T> {
    this.live();
    this.busy = true;
    return new Promise<T>((resolve, reject) => {
      start((error, status) => {
        this.busy = false;
        try {
          if (error) throw new NativeError(`${what}: ${error instanceof Error ? error.message : String(error)}`);
          checkStatus(what, status, err);
          resolve(result());
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  private prepareNext(capacity: number) {
    const out = new Int32Array(capacity);
    const nOut = [0];
    const stats = { size: koffi.sizeof(mtp_generate_stats), stop_reason: 0, n_steps: 0, n_drafted: 0, n_accepted: 0, n_generated: 0 };
    const err = newMtpError();
    const args = [this.live(), out, capacity, nOut, stats, err] as const;
    const result = (): GenerateChunk => ({
      tokens: Array.from(out.subarray(0, nOut[0])),
      stats: {
        stopReason: MTP_STOP_REASONS[stats.stop_reason] ?? "none",
        nSteps: Number(stats.n_steps),
        nDrafted: Number(stats.n_drafted),
        nAccepted: Number(stats.n_accepted),
        nGenerated: Number(stats.n_generated),
      },
    });
    return { args, err, result };
  }

  reset(): void {
    const err = newMtpError();
    checkStatus("mtp_session_reset", this.lib.fn.mtp_session_reset(this.live(), err), err);
  }

  free(): void {
    if (this.handle !== null) this.lib.fn.mtp_session_free(this.live());
    this.handle = null;
  }

  private live(): unknown {
    if (this.handle === null) throw new NativeError("session: used after free()");
    if (this.busy) throw new NativeError("session: busy with an evalAsync call (one call per session at a time)");
    return this.handle;
  }
}

export class NativeModel {
  private handle: unknown;
  private sessions = new Set<NativeSession>();

  private constructor(
    private readonly lib: NativeLibrary,
    handle: unknown,
    readonly description: ModelDescription,
  ) {
    this.handle = handle;
  }

  /** Loads the weights of `path` (already described by describeModel) into the native engine. */
  static load(path: string, description: ModelDescription, backend: BackendName = "CPU"): NativeModel {
    const unsupported = description.unsupportedTensors[0];
    if (unsupported) {
      throw new ModelDescriptionError(`tensor '${unsupported.name}': type ${ggmlTypeName(unsupported.type)} is not supported by the engine`);
    }
    const lib = loadNativeLibrary();
    const hp = description.hparams;
    const hparams = {
      size: koffi.sizeof(mtp_hparams),
      arch: MtpArch[hp.arch],
      n_embd: hp.nEmbd,
      n_vocab: hp.nVocab,
      n_layer: hp.nLayer,
      n_mtp: hp.nMtp,
      n_ff: hp.nFf,
      n_head: hp.nHead,
      n_head_kv: hp.nHeadKv,
      head_dim: hp.headDim,
      rope_n_dims: hp.rope.nDims,
      rope_sections: hp.rope.sections,
      ssm_conv_kernel: hp.gdn.convKernel,
      ssm_n_key_heads: hp.gdn.nKeyHeads,
      ssm_n_value_heads: hp.gdn.nValueHeads,
      ssm_key_head_dim: hp.gdn.keyHeadDim,
      ssm_value_head_dim: hp.gdn.valueHeadDim,
      ssm_conv_channels: hp.gdn.convChannels,
      rms_eps: hp.rmsEps,
      rope_freq_base: hp.rope.freqBase,
      rope_freq_scale: hp.rope.freqScale,
      rope_attn_factor: hp.rope.attnFactor,
      n_expert: hp.moe?.nExpert ?? 0,
      n_expert_used: hp.moe?.nExpertUsed ?? 0,
      n_ff_exp: hp.moe?.expertFfnLength ?? 0,
      n_ff_shexp: hp.moe?.sharedExpertFfnLength ?? 0,
    };
    const tensors = description.manifest.map((t) => ({
      size: koffi.sizeof(mtp_tensor_info),
      role: MTP_TENSOR_ROLE[t.role],
      layer: t.layer,
      type: t.type,
      n_dims: t.ne.length,
      reserved: 0,
      name: t.name.slice(0, MTP_TENSOR_NAME_BYTES - 1),
      ne: [0, 1, 2, 3].map((d) => t.ne[d] ?? 1),
      file_offset: t.fileOffset,
      n_bytes: t.nBytes,
    }));
    const layerKinds = Uint8Array.from(description.layerKinds, (k) => MtpLayerKind[k]);
    const out: unknown[] = [null];
    const err = newMtpError();
    const status = lib.fn.mtp_model_load(
      path,
      { size: koffi.sizeof(mtp_model_params), backend: MtpBackend[backend] },
      hparams,
      layerKinds,
      tensors,
      tensors.length,
      out,
      err,
    );
    checkStatus(`mtp_model_load '${path}'`, status, err);
    return new NativeModel(lib, out[0], description);
  }

  createSession(options: SessionOptions): NativeSession {
    const out: unknown[] = [null];
    const err = newMtpError();
    const params = {
      size: koffi.sizeof(mtp_session_params),
      n_ctx: options.nCtx,
      n_threads: options.nThreads ?? 0,
      n_draft_max: options.nDraftMax ?? 0,
    };
    checkStatus("mtp_session_create", this.lib.fn.mtp_session_create(this.live(), params, out, err), err);
    const hp = this.description.hparams;
    const session = new NativeSession(this.lib, out[0], hp.nVocab, hp.nEmbd, options.nCtx);
    this.sessions.add(session);
    return session;
  }

  /** Frees the model and every session created from it (sessions must not outlive it). */
  free(): void {
    for (const s of this.sessions) s.free();
    this.sessions.clear();
    if (this.handle !== null) this.lib.fn.mtp_model_free(this.handle);
    this.handle = null;
  }

  private live(): unknown {
    if (this.handle === null) throw new NativeError("model: used after free()");
    return this.handle;
  }
}
