// The composition of the attention kernels' modules (attention.ts: each kernel's .wgsl file with the
// library parts in shaders/lib/attention_*.wgsl, joined by ../../src/gpu/wgsl.ts): which parts each
// kernel takes, in which order (the subgroup part first, for its directives), and that every
// module builds a pipeline on this device, without a validation error, at head sizes of each of its
// paths. The results of the kernels are checked in attention.test.ts, attention-backward.test.ts,
// attention-vec4.test.ts and attention-subgroup.test.ts.
import { describe, expect, it } from 'vitest';
import type { KernelSpec } from '../../src/gpu/kernel.js';
import {
  attentionBackwardKeyKernel,
  attentionBackwardPrepKernel,
  attentionBackwardQueryKernel,
  attentionForwardKernel,
  attentionSubgroupBackwardKeyKernel,
  attentionSubgroupBackwardQueryKernel,
  attentionSubgroupForwardKernel,
  attentionVec4BackwardKeyKernel,
  attentionVec4BackwardQueryKernel,
  attentionVec4ForwardKernel,
} from '../../src/gpu/kernels/attention.js';
import { gpu } from '../helpers.js';

const ctx = await gpu();
const NO_SUBGROUPS = `the device (${ctx.adapterInfo.description || ctx.adapterInfo.vendor}) lacks subgroups or the WGSL subgroup_id builtins`;
if (!ctx.features.subgroupId) console.warn(`attention-compose.test.ts: the subgroup modules are not built: ${NO_SUBGROUPS}`);

const rows = 'lib/attention_rows.wgsl';
const perRow = 'lib/attention_per_row.wgsl';
const subgroup = 'lib/attention_subgroup.wgsl';
const fwdIo = 'lib/attention_forward_io.wgsl';
const bwdIo = 'lib/attention_backward_io.wgsl';
const score = 'lib/attention_score.wgsl';

interface Composed {
  spec: KernelSpec<never>;
  parts: string[];
  /**
   * Head sizes to build at: each path of the kernel (the vec4 kernels' registers up to 16, arrays
   * above), up to the largest it takes; each also with softcapping (SOFTCAP > 0) but prep's.
   */
  HS: number[];
  subgroups?: boolean;
}

const kernels: Composed[] = [
  { spec: attentionForwardKernel, parts: ['attention_forward.wgsl', fwdIo, rows, score, perRow], HS: [1, 64, 256] },
  { spec: attentionVec4ForwardKernel, parts: ['attention_vec4_forward.wgsl', fwdIo, rows, score, perRow], HS: [4, 16, 20, 128] },
  { spec: attentionSubgroupForwardKernel, parts: [subgroup, 'attention_subgroup_forward.wgsl', fwdIo, rows, score], HS: [3, 64, 256], subgroups: true },
  { spec: attentionBackwardPrepKernel, parts: ['attention_backward_prep.wgsl', perRow], HS: [1, 64, 256] },
  { spec: attentionBackwardQueryKernel, parts: ['attention_backward_query.wgsl', bwdIo, rows, score, perRow], HS: [1, 64, 256] },
  { spec: attentionVec4BackwardQueryKernel, parts: ['attention_vec4_backward_query.wgsl', bwdIo, rows, score, perRow], HS: [4, 16, 20, 128] },
  { spec: attentionSubgroupBackwardQueryKernel, parts: [subgroup, 'attention_subgroup_backward_query.wgsl', bwdIo, rows, score], HS: [3, 64, 256], subgroups: true },
  { spec: attentionBackwardKeyKernel, parts: ['attention_backward_key.wgsl', bwdIo, rows, score, perRow], HS: [1, 64, 256] },
  { spec: attentionVec4BackwardKeyKernel, parts: ['attention_vec4_backward_key.wgsl', bwdIo, rows, score, perRow], HS: [4, 16, 20, 128] },
  { spec: attentionSubgroupBackwardKeyKernel, parts: [subgroup, 'attention_subgroup_backward_key.wgsl', bwdIo, rows, score], HS: [3, 64, 256], subgroups: true },
];

/** The parts of a composed module, from the `// ---- name ----` line that introduces each. */
const partsOf = (code: string) => [...code.matchAll(/^\/\/ ---- (.+) ----$/gm)].map((m) => m[1]);

describe('the attention modules', () => {
  for (const { spec, parts, HS, subgroups } of kernels) {
    it(`${spec.name} is ${parts.join(' + ')}`, () => {
      expect(partsOf(spec.code)).toEqual(parts);
      expect(spec.name).toBe(parts.find((p) => !p.startsWith('lib/'))!.replace(/\.wgsl$/, ''));
    });
    it.skipIf(subgroups && !ctx.features.subgroupId)(`${spec.name} builds a pipeline at HS ${HS.join(', ')}${spec === attentionBackwardPrepKernel ? '' : ', with and without softcapping'}`, async () => {
      const module = ctx.device.createShaderModule({ code: spec.code, label: spec.name });
      const errors = (await module.getCompilationInfo()).messages.filter((m) => m.type === 'error');
      expect(errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`)).toEqual([]);
      const softcaps = spec === attentionBackwardPrepKernel ? [0] : [0, 30];
      for (const hs of HS) {
        for (const softcap of softcaps) {
          const dims = { B: 1, T: 2, S: 2, NH: 2, KV: 1, HS: hs, pos0: 0, softcap, subgroupMinSize: ctx.adapterInfo.subgroupMinSize || 4 } as never;
          const what = `HS ${hs}, softcap ${softcap}`;
          ctx.device.pushErrorScope('validation');
          await ctx.device.createComputePipelineAsync({
            layout: 'auto',
            compute: { module, entryPoint: 'main', constants: spec.constants?.(dims) },
          }).catch((e: unknown) => expect.fail(`${what}: ${String(e)}`));
          expect(await ctx.device.popErrorScope(), what).toBeNull();
        }
      }
    });
  }
});
