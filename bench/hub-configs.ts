// The config.json of each real model the benchmark builds random weights for, as published on the
// Hugging Face Hub (every field that shapes the model or its RoPE; tokenizer-only and training-only
// fields such as initializer_range or use_cache left out). Where each came from is noted: the
// search tools of this project hold copies of the Hub's files (duplicates and fine-tunes of each
// repository, which keep its config), not the repositories themselves, so each config below is the
// one those copies agree on. demo/ui/model-catalog.ts keeps the demo's models' configs; test/bench
// checks that the two agree where they describe the same repository.

/**
 * HuggingFaceTB/SmolLM2-135M's config.json (the base model; the Instruct model has the same shape,
 * bos 1 / eos 2): llama, hidden 576, 30 layers, 9 heads of 64, 3 kv heads, MLP 1536, vocabulary
 * 49152, tied embeddings, rope_theta 100000, rms_norm_eps 1e-5, 8192 positions: 134.5M parameters.
 */
export const SMOLLM2_135M = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 576,
  intermediate_size: 1536,
  num_hidden_layers: 30,
  num_attention_heads: 9,
  num_key_value_heads: 3,
  hidden_act: 'silu',
  max_position_embeddings: 8192,
  rms_norm_eps: 1e-5,
  rope_theta: 100000,
  rope_scaling: null,
  attention_bias: false,
  mlp_bias: false,
  tie_word_embeddings: true,
  vocab_size: 49152,
  bos_token_id: 0,
  eos_token_id: 0,
  torch_dtype: 'float32',
};

/**
 * Qwen/Qwen2.5-0.5B's config.json: qwen2 (q/k/v biases, none on o), hidden 896, 24 layers, 14 heads
 * of 64, 2 kv heads, MLP 4864, vocabulary 151936, tied embeddings, rope_theta 1e6,
 * rms_norm_eps 1e-6, 32768 positions, no sliding window: 494.0M parameters.
 */
export const QWEN25_05B = {
  architectures: ['Qwen2ForCausalLM'],
  model_type: 'qwen2',
  hidden_size: 896,
  intermediate_size: 4864,
  num_hidden_layers: 24,
  num_attention_heads: 14,
  num_key_value_heads: 2,
  hidden_act: 'silu',
  max_position_embeddings: 32768,
  max_window_layers: 24,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  sliding_window: 32768,
  use_sliding_window: false,
  tie_word_embeddings: true,
  vocab_size: 151936,
  bos_token_id: 151643,
  eos_token_id: 151643,
  torch_dtype: 'float32',
};

/**
 * Qwen/Qwen2.5-1.5B-Instruct's config.json (transformers 4.43; the copies in onnx-community/ and
 * TheBlueObserver/Qwen2.5-1.5B-Instruct on the Hub): qwen2, hidden 1536, 28 layers, 12 heads of
 * 128, 2 kv heads, MLP 8960, vocabulary 151936, tied, rope_theta 1e6, 32768 positions, no sliding
 * window (max_window_layers 21 only matters with use_sliding_window): 1.54B parameters.
 */
export const QWEN25_15B = {
  architectures: ['Qwen2ForCausalLM'],
  model_type: 'qwen2',
  hidden_size: 1536,
  intermediate_size: 8960,
  num_hidden_layers: 28,
  num_attention_heads: 12,
  num_key_value_heads: 2,
  hidden_act: 'silu',
  max_position_embeddings: 32768,
  max_window_layers: 21,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 32768,
  use_sliding_window: false,
  tie_word_embeddings: true,
  vocab_size: 151936,
  bos_token_id: 151643,
  eos_token_id: 151645,
  torch_dtype: 'bfloat16',
};

/**
 * Qwen/Qwen3-0.6B's config.json (transformers 4.51; its 726-byte file as copied in
 * TensorStack/TextEncoder's Qwen-3-06B/): qwen3 (q/k norms), hidden 1024, 28 layers, 16 heads of
 * 128 (head_dim is not hidden/heads here), 8 kv heads, MLP 3072, vocabulary 151936, tied,
 * rope_theta 1e6, 40960 positions: 596.0M parameters.
 */
export const QWEN3_06B = {
  architectures: ['Qwen3ForCausalLM'],
  model_type: 'qwen3',
  hidden_size: 1024,
  intermediate_size: 3072,
  num_hidden_layers: 28,
  num_attention_heads: 16,
  num_key_value_heads: 8,
  head_dim: 128,
  hidden_act: 'silu',
  attention_bias: false,
  max_position_embeddings: 40960,
  max_window_layers: 28,
  rms_norm_eps: 1e-6,
  rope_scaling: null,
  rope_theta: 1000000,
  sliding_window: null,
  use_sliding_window: false,
  tie_word_embeddings: true,
  vocab_size: 151936,
  bos_token_id: 151643,
  eos_token_id: 151645,
  torch_dtype: 'bfloat16',
};

/** Llama 3.2's RoPE: base 500000 with Llama 3's frequency scaling (factor 32 over 8192 original positions). */
const LLAMA3_ROPE = {
  rope_theta: 500000.0,
  rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
};

/**
 * meta-llama/Llama-3.2-1B-Instruct's config.json (gated; transformers 4.45, as copied in
 * julien-c/Llama-3.2-1B-Instruct and task-aware/Llama_3.2_1B_Instruct): llama, hidden 2048,
 * 16 layers, 32 heads of 64, 8 kv heads, MLP 8192, vocabulary 128256, tied, Llama 3 RoPE scaling,
 * 131072 positions: 1.24B parameters.
 */
export const LLAMA32_1B = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 2048,
  intermediate_size: 8192,
  num_hidden_layers: 16,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  head_dim: 64,
  hidden_act: 'silu',
  attention_bias: false,
  mlp_bias: false,
  max_position_embeddings: 131072,
  rms_norm_eps: 1e-5,
  ...LLAMA3_ROPE,
  tie_word_embeddings: true,
  vocab_size: 128256,
  bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009],
  torch_dtype: 'bfloat16',
};

/**
 * meta-llama/Llama-3.2-3B-Instruct's config.json (gated; transformers 4.45, as copied in
 * datasets/lhpku20010120/Llama-3.2-3B-Instruct): llama, hidden 3072, 28 layers, 24 heads of 128,
 * 8 kv heads, MLP 8192, vocabulary 128256, tied, Llama 3 RoPE scaling, 131072 positions: 3.21B
 * parameters.
 */
export const LLAMA32_3B = {
  ...LLAMA32_1B,
  hidden_size: 3072,
  num_hidden_layers: 28,
  num_attention_heads: 24,
  head_dim: 128,
};

/** Gemma 3's layer pattern: five sliding-window layers, then one full-attention layer. */
const gemmaLayerTypes = (L: number) => Array.from({ length: L }, (_, i) => ((i + 1) % 6 === 0 ? 'full_attention' : 'sliding_attention'));

/**
 * google/gemma-3-270m-it's config.json (gated; transformers 4.55, as copied in fine-tunes of it,
 * e.g. Codingstark/gemma3-270m-leetcode, mariocde/functiongemma-270m-onnx): gemma3_text, hidden
 * 640, 18 layers (sliding window 512, every sixth layer full), 4 heads of 256, 1 kv head, MLP 2048
 * (gelu_pytorch_tanh), vocabulary 262144, query_pre_attn_scalar 256, rope_theta 1e6 for the full
 * layers and 10000 (rope_local_base_freq) for the sliding ones, 32768 positions: 268.1M parameters.
 * tie_word_embeddings is absent from the file (Gemma3TextConfig's default, true): written out here.
 */
export const GEMMA3_270M = {
  architectures: ['Gemma3ForCausalLM'],
  model_type: 'gemma3_text',
  hidden_size: 640,
  intermediate_size: 2048,
  num_hidden_layers: 18,
  num_attention_heads: 4,
  num_key_value_heads: 1,
  head_dim: 256,
  hidden_activation: 'gelu_pytorch_tanh',
  attention_bias: false,
  attn_logit_softcapping: null,
  final_logit_softcapping: null,
  query_pre_attn_scalar: 256,
  max_position_embeddings: 32768,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  rope_local_base_freq: 10000.0,
  rope_scaling: null,
  sliding_window: 512,
  _sliding_window_pattern: 6,
  layer_types: gemmaLayerTypes(18),
  use_bidirectional_attention: false,
  tie_word_embeddings: true,
  vocab_size: 262144,
  bos_token_id: 2,
  eos_token_id: [1, 106],
  pad_token_id: 0,
  torch_dtype: 'bfloat16',
};

/**
 * google/gemma-3-1b-it's config.json (gated; transformers 4.50, as copied in
 * indiebot-community/gemma-3-1b-it-bnb-4bit and ksterx/gemma3-1b-mtm): gemma3_text, hidden 1152,
 * 26 layers (sliding window 512, sliding_window_pattern 6; this older file has no layer_types),
 * 4 heads of 256, 1 kv head, MLP 6912, vocabulary 262144, the same RoPE bases as the 270M, 32768
 * positions: 999.9M parameters. tie_word_embeddings is the class default (true), written out.
 */
export const GEMMA3_1B = {
  architectures: ['Gemma3ForCausalLM'],
  model_type: 'gemma3_text',
  hidden_size: 1152,
  intermediate_size: 6912,
  num_hidden_layers: 26,
  num_attention_heads: 4,
  num_key_value_heads: 1,
  head_dim: 256,
  hidden_activation: 'gelu_pytorch_tanh',
  attention_bias: false,
  attn_logit_softcapping: null,
  final_logit_softcapping: null,
  query_pre_attn_scalar: 256,
  max_position_embeddings: 32768,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  rope_local_base_freq: 10000,
  rope_scaling: null,
  sliding_window: 512,
  sliding_window_pattern: 6,
  cache_implementation: 'hybrid',
  tie_word_embeddings: true,
  vocab_size: 262144,
  bos_token_id: 2,
  eos_token_id: [1, 106],
  pad_token_id: 0,
  torch_dtype: 'bfloat16',
};
