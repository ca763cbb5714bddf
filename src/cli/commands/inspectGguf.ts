/**
 * `mtp-cli inspect-gguf FILE`: what is in a GGUF file and what mtp-cli makes of it — general info,
 * hyper-parameters, tokenizer summary, tensor type histogram, layer schedule, the MTP head and its
 * fallbacks, parameter count and a memory estimate. `--json` prints one object and nothing else.
 */
import chalk from "chalk";
import type { Command } from "commander";
import { describeModel } from "../../arch/describeModel.js";
import { estimateMemory, type MemoryEstimate } from "../../arch/memoryEstimate.js";
import type { ModelDescription } from "../../arch/ModelDescription.js";
import { ggmlTypeName } from "../../gguf/ggmlTypes.js";
import * as N from "../../gguf/names.js";
import { parseGguf } from "../../gguf/parseGguf.js";
import { GGUF_VALUE_TYPE_NAMES, isGgufArray, type GgufFile, type GgufValue } from "../../gguf/types.js";
import { intOption } from "../options.js";
import { formatBytes, formatCount } from "../ui/format.js";

const DEFAULT_CTX = 4096;
const DEFAULT_DRAFT = 3;

export interface InspectOptions {
  ctx?: number;
  draftMax?: number;
}

function jsonValue(v: GgufValue, maxItems: number): unknown {
  if (typeof v === "bigint") return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (isGgufArray(v)) {
    if (v.items.length > maxItems) {
      return { type: "array", element_type: GGUF_VALUE_TYPE_NAMES[v.elementType], length: v.items.length };
    }
    return v.items.map((x) => jsonValue(x, maxItems));
  }
  return v;
}

function tokenizerSummary(file: GgufFile) {
  const get = (key: string) => file.kv.get(key)?.value;
  const len = (key: string) => {
    const v = get(key);
    return v !== undefined && isGgufArray(v) ? v.items.length : null;
  };
  const id = (key: string) => {
    const v = get(key);
    return typeof v === "number" || typeof v === "bigint" ? Number(v) : null;
  };
  const template = get(N.KEY_TOKENIZER_CHAT_TEMPLATE);
  return {
    model: (get(N.KEY_TOKENIZER_MODEL) as string | undefined) ?? null,
    pre: (get(N.KEY_TOKENIZER_PRE) as string | undefined) ?? null,
    vocab_size: len(N.KEY_TOKENIZER_TOKENS),
    n_merges: len(N.KEY_TOKENIZER_MERGES),
    bos_token_id: id(N.KEY_TOKENIZER_BOS_ID),
    eos_token_id: id(N.KEY_TOKENIZER_EOS_ID),
    padding_token_id: id(N.KEY_TOKENIZER_PAD_ID),
    eot_token_id: id(N.KEY_TOKENIZER_EOT_ID),
    add_bos_token: (get(N.KEY_TOKENIZER_ADD_BOS) as boolean | undefined) ?? null,
    chat_template: typeof template === "string",
    chat_template_bytes: typeof template === "string" ? Buffer.byteLength(template) : 0,
  };
}

function schedule(desc: ModelDescription): { trunk: string; mtp: string } {
  const interval = desc.hparams.fullAttentionInterval || 4;
  const letters = desc.layerKinds.map((k) => (k === "gdn" ? "G" : "A"));
  const groups: string[] = [];
  for (let i = 0; i < letters.length; i += interval) groups.push(letters.slice(i, i + interval).join(""));
  return { trunk: groups.join(" "), mtp: "A".repeat(desc.hparams.nMtp) };
}

export function buildInspectReport(file: GgufFile, desc: ModelDescription, opts: InspectOptions = {}) {
  const hp = desc.hparams;
  const ctx = opts.ctx ?? Math.min(DEFAULT_CTX, hp.contextLength || DEFAULT_CTX);
  const draftMax = opts.draftMax ?? (desc.mtp ? DEFAULT_DRAFT : 0);
  const memory: MemoryEstimate = estimateMemory(desc, { ctx, draftMax });

  const histogram = new Map<number, { n_tensors: number; bytes: number; elements: number }>();
  for (const t of file.tensors) {
    const h = histogram.get(t.type) ?? { n_tensors: 0, bytes: 0, elements: 0 };
    h.n_tensors++;
    h.bytes += t.nBytes;
    h.elements += t.nElements;
    histogram.set(t.type, h);
  }
  const sched = schedule(desc);
  const mtpTensors = desc.mtp ? desc.manifest.filter((m) => m.layer === desc.mtp!.layer).map((m) => m.name) : [];

  return {
    file: {
      path: file.path,
      size_bytes: file.fileSize,
      gguf_version: file.version,
      alignment: file.alignment,
      data_offset: file.dataOffset,
      n_tensors: file.tensors.length,
      n_kv: file.kv.size,
    },
    general: {
      architecture: hp.arch,
      name: (file.kv.get(N.KEY_GENERAL_NAME)?.value as string | undefined) ?? null,
      size_label: (file.kv.get(N.KEY_GENERAL_SIZE_LABEL)?.value as string | undefined) ?? null,
      file_type: file.kv.has(N.KEY_GENERAL_FILE_TYPE) ? jsonValue(file.kv.get(N.KEY_GENERAL_FILE_TYPE)!.value, 0) : null,
    },
    hparams: {
      context_length: hp.contextLength,
      n_embd: hp.nEmbd,
      n_vocab: hp.nVocab,
      block_count: hp.nBlockAll,
      n_layer: hp.nLayer,
      nextn_predict_layers: hp.nMtp,
      n_ff: hp.nFf,
      n_head: hp.nHead,
      n_head_kv: hp.nHeadKv,
      head_dim: hp.headDim,
      rms_eps: hp.rmsEps,
      rope: {
        freq_base: hp.rope.freqBase,
        n_dims: hp.rope.nDims,
        sections: hp.rope.sections,
        attn_factor: hp.rope.attnFactor,
        freq_scale: hp.rope.freqScale,
      },
      full_attention_interval: hp.fullAttentionInterval,
      gdn: {
        conv_kernel: hp.gdn.convKernel,
        n_key_heads: hp.gdn.nKeyHeads,
        n_value_heads: hp.gdn.nValueHeads,
        key_head_dim: hp.gdn.keyHeadDim,
        value_head_dim: hp.gdn.valueHeadDim,
        conv_channels: hp.gdn.convChannels,
      },
      moe: hp.moe
        ? {
            n_expert: hp.moe.nExpert,
            n_expert_used: hp.moe.nExpertUsed,
            expert_ff: hp.moe.expertFfnLength,
            shared_expert_ff: hp.moe.sharedExpertFfnLength,
            merged_gate_up: hp.moe.mergedGateUp,
          }
        : null,
    },
    layers: {
      n_trunk: hp.nLayer,
      kinds: desc.layerKinds,
      schedule: sched.trunk,
      mtp_blocks: desc.mtp ? [desc.mtp.layer] : [],
      mtp_schedule: sched.mtp,
    },
    mtp: desc.mtp
      ? {
          present: true,
          layer: desc.mtp.layer,
          tensors: mtpTensors,
          embed_tokens: desc.mtp.embedTokens,
          shared_head_norm: desc.mtp.sharedHeadNorm,
          shared_head_head: desc.mtp.sharedHeadHead,
          fallbacks: desc.mtp.fallbacks,
        }
      : { present: false },
    lm_head: desc.lmHead,
    tokenizer: tokenizerSummary(file),
    n_params: desc.nParams,
    types: [...histogram.entries()]
      .sort((a, b) => b[1].bytes - a[1].bytes)
      .map(([type, h]) => ({ type: ggmlTypeName(type), ...h })),
    memory: {
      ctx: memory.ctx,
      draft_max: memory.draftMax,
      weights_bytes: memory.weightBytes,
      kv_cache_bytes: memory.kvCacheBytes,
      gdn_state_bytes: memory.gdnStateBytes,
      scratch_bytes: memory.scratchBytes,
      total_bytes: memory.totalBytes,
      notes: memory.notes,
    },
    unsupported_tensors: desc.unsupportedTensors.map((u) => ({ name: u.name, type: ggmlTypeName(u.type), reason: u.reason })),
    unused_tensors: desc.unusedTensors,
    metadata: Object.fromEntries(
      [...file.kv.values()].map((e) => [e.key, { type: GGUF_VALUE_TYPE_NAMES[e.type], value: jsonValue(e.value, 64) }]),
    ),
    tensors: file.tensors.map((t) => ({
      name: t.name,
      type: ggmlTypeName(t.type),
      ne: t.ne,
      offset: t.offset,
      n_bytes: t.nBytes,
    })),
  };
}

export type InspectReport = ReturnType<typeof buildInspectReport>;

function printHuman(r: InspectReport, withTensors: boolean): void {
  const out: string[] = [];
  const h = (s: string) => out.push("", chalk.bold(s));
  const row = (k: string, v: unknown) => out.push(`  ${chalk.dim(k.padEnd(22))} ${String(v)}`);

  out.push(chalk.bold(`${r.file.path}`) + chalk.dim(` — GGUF v${r.file.gguf_version}, ${formatBytes(r.file.size_bytes)}`));
  h("general");
  row("architecture", r.general.architecture);
  if (r.general.name) row("name", r.general.name);
  if (r.general.size_label) row("size label", r.general.size_label);
  row("parameters", `${formatCount(r.n_params)} (${r.n_params})`);
  row("tensors / kv", `${r.file.n_tensors} / ${r.file.n_kv}`);

  h("hyper-parameters");
  const hp = r.hparams;
  row("context length", hp.context_length);
  row("embedding", hp.n_embd);
  row("vocab", hp.n_vocab);
  row("blocks", `${hp.block_count} (${hp.n_layer} trunk + ${hp.nextn_predict_layers} MTP)`);
  row("attention", `${hp.n_head} heads / ${hp.n_head_kv} kv heads × ${hp.head_dim}`);
  row("rope", `base ${hp.rope.freq_base}, ${hp.rope.n_dims} dims, sections [${hp.rope.sections.join(", ")}]`);
  row("gated deltanet", `${hp.gdn.n_key_heads} k heads / ${hp.gdn.n_value_heads} v heads × ${hp.gdn.key_head_dim}, conv ${hp.gdn.conv_kernel}`);
  if (hp.moe) {
    row("experts", `${hp.moe.n_expert} × ${hp.moe.expert_ff}, ${hp.moe.n_expert_used} used, shared ${hp.moe.shared_expert_ff}`);
  } else {
    row("ffn", hp.n_ff);
  }
  row("rms eps", hp.rms_eps);

  h("layers");
  const pretty = (s: string) => s.split("").join(" ").replace(/G/g, chalk.cyan("G")).replace(/A/g, chalk.yellow("A"));
  row("schedule", `${pretty(r.layers.schedule)}${r.layers.mtp_schedule ? ` | MTP: ${pretty(r.layers.mtp_schedule)}` : ""}`);
  out.push(chalk.dim("  G = Gated DeltaNet, A = gated full attention"));

  h("MTP head");
  if (r.mtp.present) {
    row("block", r.mtp.layer);
    row("tensors", r.mtp.tensors?.length);
    row("embeddings", r.mtp.embed_tokens);
    row("output norm", r.mtp.shared_head_norm);
    row("lm head", r.mtp.shared_head_head);
    if (r.mtp.fallbacks?.length) row("fallbacks", r.mtp.fallbacks.join("; "));
    out.push(chalk.green("  speculative decoding available"));
  } else {
    out.push(chalk.yellow("  none: this file has no NextN/MTP block; speculative decoding is unavailable"));
  }

  h("tokenizer");
  const t = r.tokenizer;
  row("model / pre", `${t.model ?? "-"} / ${t.pre ?? "-"}`);
  row("vocab / merges", `${t.vocab_size ?? "-"} / ${t.n_merges ?? "-"}`);
  row("bos / eos / pad", `${t.bos_token_id ?? "-"} / ${t.eos_token_id ?? "-"} / ${t.padding_token_id ?? "-"}`);
  row("chat template", t.chat_template ? `yes (${t.chat_template_bytes} bytes)` : "no");

  h("tensor types");
  for (const ty of r.types) row(ty.type, `${String(ty.n_tensors).padStart(5)} tensors  ${formatBytes(ty.bytes).padStart(11)}`);
  if (r.unsupported_tensors.length) {
    out.push(chalk.red(`  ${r.unsupported_tensors.length} tensor(s) use types the engine cannot run yet:`));
    for (const u of r.unsupported_tensors) out.push(chalk.red(`    ${u.name}: ${u.type}`));
  }
  if (r.unused_tensors.length) out.push(chalk.dim(`  unused by mtp-cli: ${r.unused_tensors.join(", ")}`));

  h(`memory estimate (ctx ${r.memory.ctx}, draft ${r.memory.draft_max})`);
  row("weights", formatBytes(r.memory.weights_bytes));
  row("kv cache", formatBytes(r.memory.kv_cache_bytes));
  row("gdn state", formatBytes(r.memory.gdn_state_bytes));
  row("scratch", formatBytes(r.memory.scratch_bytes));
  row("total", formatBytes(r.memory.total_bytes));
  for (const n of r.memory.notes) out.push(chalk.dim(`  ${n}`));

  if (withTensors) {
    h("tensors");
    for (const x of r.tensors) {
      out.push(`  ${x.name.padEnd(40)} ${x.type.padEnd(8)} [${x.ne.join(", ")}]`.padEnd(80) + chalk.dim(formatBytes(x.n_bytes)));
    }
  }
  process.stdout.write(out.join("\n") + "\n");
}

export function registerInspectGguf(program: Command): void {
  program
    .command("inspect-gguf")
    .description("describe a GGUF file: hyper-parameters, layer schedule, MTP head, tensor types, memory estimate")
    .argument("<file>", "GGUF model file")
    .option("--json", "print one JSON object with everything (and nothing else)")
    .option("--tensors", "list every tensor")
    .option("-c, --ctx <n>", `context length for the memory estimate (default: min(${DEFAULT_CTX}, training context))`, intOption("--ctx", 1, 1 << 24))
    .option("--mtp-spec-decode <k>", `draft length the memory estimate is sized for (default: ${DEFAULT_DRAFT} with an MTP head)`, intOption("--mtp-spec-decode", 0, 16))
    .action((path: string, o: { json?: boolean; tensors?: boolean; ctx?: number; mtpSpecDecode?: number }) => {
      const file = parseGguf(path);
      const desc = describeModel(file);
      const report = buildInspectReport(file, desc, { ctx: o.ctx, draftMax: o.mtpSpecDecode });
      if (o.json) process.stdout.write(JSON.stringify(report, null, 2) + "\n");
      else printHuman(report, o.tensors ?? false);
    });
}
