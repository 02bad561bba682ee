// The models the demo offers, each with the config.json it has on the Hugging Face Hub (the fields
// that shape the model, from which the page works out the training memory before downloading
// anything), the size of its weights (model.safetensors) and whether the Hub gates it (a license
// to accept, then an access token). bench/hub-configs.ts holds the benchmark's copies of the same
// published configs; test/demo/model-catalog.test.ts checks that the two agree, and each size
// against the parameters the config gives (bf16 files: two bytes a parameter).
//
// Where the values come from: the search tools of this project hold copies of the Hub's files
// (duplicates and fine-tunes of each repository, which keep its config, and the Hub's file-list
// pages of the repositories or of their verbatim duplicates), not the repositories themselves;
// each source is named below.

export interface CatalogModel {
  /** The Hugging Face id. */
  id: string;
  label: string;
  /** What it is good for, shown beside it. */
  note: string;
  /** Gated on the Hub: downloading it needs an access token of an account that accepted its terms. */
  gated: boolean;
  /** Bytes of its safetensors weights (decimal, as the Hub's file list rounds them). */
  downloadBytes: number;
  /** Its config.json (the fields that shape the model). */
  config: Record<string, unknown>;
}

const gemmaLayerTypes = (L: number) => Array.from({ length: L }, (_, i) => ((i + 1) % 6 === 0 ? 'full_attention' : 'sliding_attention'));

export const CATALOG: CatalogModel[] = [
  {
    // config.json: HuggingFaceTB/SmolLM2-135M (bench/hub-configs.ts) with the Instruct model's token
    // ids. Size: the Hub's file list of HuggingFaceTB/SmolLM2-135M-Instruct, 269 MB.
    id: 'HuggingFaceTB/SmolLM2-135M-Instruct',
    label: 'SmolLM2-135M-Instruct',
    note: 'the default: trains at interactive speed on a laptop GPU',
    gated: false,
    downloadBytes: 269e6,
    config: {
      model_type: 'llama', hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9,
      num_key_value_heads: 3, hidden_act: 'silu', max_position_embeddings: 8192, rms_norm_eps: 1e-5,
      rope_theta: 100000, rope_scaling: null, attention_bias: false, mlp_bias: false, tie_word_embeddings: true,
      vocab_size: 49152, bos_token_id: 1, eos_token_id: 2, pad_token_id: 2,
    },
  },
  {
    // config.json: HuggingFaceTB/SmolLM2-360M-Instruct, as copied in eduardoworrel/SmolLM2-360M-Instruct.
    // Size: the Hub's file list of HuggingFaceTB/SmolLM2-360M-Instruct, 724 MB.
    id: 'HuggingFaceTB/SmolLM2-360M-Instruct',
    label: 'SmolLM2-360M-Instruct',
    note: 'larger, better answers, slower',
    gated: false,
    downloadBytes: 724e6,
    config: {
      model_type: 'llama', hidden_size: 960, intermediate_size: 2560, num_hidden_layers: 32, num_attention_heads: 15,
      num_key_value_heads: 5, head_dim: 64, hidden_act: 'silu', max_position_embeddings: 8192, rms_norm_eps: 1e-5,
      rope_theta: 100000, rope_scaling: null, attention_bias: false, mlp_bias: false, tie_word_embeddings: true,
      vocab_size: 49152, bos_token_id: 1, eos_token_id: 2, pad_token_id: 2,
    },
  },
  {
    // config.json: Qwen/Qwen2.5-0.5B-Instruct (transformers 4.43), as copied in unsloth/Qwen2.5-0.5B-Instruct.
    // Size: the Hub's file list of oieieio/Qwen2.5-0.5B-Instruct, a verbatim duplicate, 988 MB.
    id: 'Qwen/Qwen2.5-0.5B-Instruct',
    label: 'Qwen2.5-0.5B-Instruct',
    note: 'Korean-capable (and 28 other languages)',
    gated: false,
    downloadBytes: 988e6,
    config: {
      model_type: 'qwen2', hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24, num_attention_heads: 14,
      num_key_value_heads: 2, hidden_act: 'silu', max_position_embeddings: 32768, max_window_layers: 21, rms_norm_eps: 1e-6,
      rope_theta: 1000000.0, sliding_window: 32768, use_sliding_window: false, tie_word_embeddings: true,
      vocab_size: 151936, bos_token_id: 151643, eos_token_id: 151645,
    },
  },
  {
    // config.json: Qwen/Qwen3-0.6B (bench/hub-configs.ts QWEN3_06B). Size: the Hub's file list of
    // Qwen/Qwen3-0.6B, 1.5 GB (the file also stores lm_head, which the config ties to the embedding).
    id: 'Qwen/Qwen3-0.6B',
    label: 'Qwen3-0.6B',
    note: 'multilingual, a thinking mode in its chat template',
    gated: false,
    downloadBytes: 1.5e9,
    config: {
      model_type: 'qwen3', hidden_size: 1024, intermediate_size: 3072, num_hidden_layers: 28, num_attention_heads: 16,
      num_key_value_heads: 8, head_dim: 128, hidden_act: 'silu', attention_bias: false, max_position_embeddings: 40960,
      max_window_layers: 28, rms_norm_eps: 1e-6, rope_scaling: null, rope_theta: 1000000, sliding_window: null,
      use_sliding_window: false, tie_word_embeddings: true, vocab_size: 151936, bos_token_id: 151643, eos_token_id: 151645,
    },
  },
  {
    // config.json: google/gemma-3-270m-it (bench/hub-configs.ts GEMMA3_270M). Size: not on a file
    // list the tools hold; computed from the config: 268,098,176 bf16 parameters = 536 MB.
    id: 'google/gemma-3-270m-it',
    label: 'Gemma 3 270M (instruction-tuned)',
    note: 'a 262k-token vocabulary for many languages',
    gated: true,
    downloadBytes: 536e6,
    config: {
      model_type: 'gemma3_text', hidden_size: 640, intermediate_size: 2048, num_hidden_layers: 18, num_attention_heads: 4,
      num_key_value_heads: 1, head_dim: 256, hidden_activation: 'gelu_pytorch_tanh', attention_bias: false,
      attn_logit_softcapping: null, final_logit_softcapping: null, query_pre_attn_scalar: 256, max_position_embeddings: 32768,
      rms_norm_eps: 1e-6, rope_theta: 1000000.0, rope_local_base_freq: 10000.0, rope_scaling: null, sliding_window: 512,
      _sliding_window_pattern: 6, layer_types: gemmaLayerTypes(18), use_bidirectional_attention: false,
      tie_word_embeddings: true, vocab_size: 262144, bos_token_id: 2, eos_token_id: [1, 106], pad_token_id: 0,
    },
  },
  {
    // config.json: meta-llama/Llama-3.2-1B-Instruct (bench/hub-configs.ts LLAMA32_1B). Size: the
    // Hub's file list of alpindale/Llama-3.2-1B-Instruct, a verbatim duplicate, 2.47 GB.
    id: 'meta-llama/Llama-3.2-1B-Instruct',
    label: 'Llama 3.2 1B Instruct',
    note: 'the largest here: multilingual, long context',
    gated: true,
    downloadBytes: 2.47e9,
    config: {
      model_type: 'llama', hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32,
      num_key_value_heads: 8, head_dim: 64, hidden_act: 'silu', attention_bias: false, mlp_bias: false,
      max_position_embeddings: 131072, rms_norm_eps: 1e-5, rope_theta: 500000.0,
      rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
      tie_word_embeddings: true, vocab_size: 128256, bos_token_id: 128000, eos_token_id: [128001, 128008, 128009],
    },
  },
];

export const DEFAULT_MODEL_ID = CATALOG[0].id;

/** Decimal megabytes or gigabytes, as the Hub writes sizes: "269 MB", "1.50 GB". */
export function downloadSize(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${Math.round(bytes / 1e6)} MB`;
}
