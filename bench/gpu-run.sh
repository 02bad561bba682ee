#!/usr/bin/env bash
# The benchmark on the GPU machine in one device run (BENCHMARKS.md, "GPU machine"), within the
# device tool's 10 minutes a command: in the project's root there, with `.gpu` and `dist/bench`
# carried, as `source .gpu/setup.sh && bash bench/gpu-run.sh`. Each part writes its report and its
# log under $OUT and has a time limit of its own, so a slow part cannot take the others' time (a
# part stopped by its limit has no report, but its log holds a `result:` line per finished row):
#   matmul    TFLOP/s of every matmul kernel, x·Wᵀ and dy·W, at MATMUL_SIZES      110 s
#             (default: 4096³, 1024³, and the products of a training step at 8 x 256, M x N x K:
#             SmolLM2-135M's q/o, k/v, gate/up, down; Qwen2.5-0.5B's q/o, gate/up, down)
#   f16-ckpt  MODELS at SHAPES, the engine with f16 weights and checkpointing, and tfjs 300 s
#             (each tfjs model and shape stopped after TFJS_TIMEOUT s, default 50: a peer that
#             is too slow or out of memory becomes an error in its row, not a lost part)
#   f32       MODELS at SHAPES, the engine alone, f32 weights, no checkpointing       150 s
# MODELS defaults to smollm2-135m,qwen2.5-0.5b and SHAPES to 1x256,8x256 (smaller ones try the
# script on SwiftShader: MODELS=stories260K SHAPES=1x8 MATMUL_SIZES=64 bash bench/gpu-run.sh).
set -u
out=${OUT:-.}
node=${NODE:-node}
models=${MODELS:-smollm2-135m,qwen2.5-0.5b}
shapes=${SHAPES:-1x256,8x256}
part() {
  local name=$1 limit=$2
  shift 2
  timeout "$limit" "$node" dist/bench/bench.mjs "$@" --json >"$out/$name.txt" 2>"$out/$name.log"
  echo "$name: exit $? ($out/$name.txt)"
}
part matmul 110 --matmul "${MATMUL_SIZES:-4096,1024,2048x576x576,2048x192x576,2048x1536x576,2048x576x1536,2048x896x896,2048x4864x896,2048x896x4864}"
part f16-ckpt 300 --models "$models" --shapes "$shapes" --weights f16 --checkpoint --tfjs-timeout "${TFJS_TIMEOUT:-50}"
part f32 150 --models "$models" --shapes "$shapes" --no-tfjs --no-profile
