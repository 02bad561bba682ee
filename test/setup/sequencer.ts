// The order in which vitest starts test files: the slowest first, so that on a machine with few
// workers the run does not end with one worker on a long file while the others are idle (the
// longest-first rule of scheduling jobs on parallel machines).
//
// vitest orders by the durations it cached from the last run on this machine (node_modules/.vite),
// and a fresh clone has none: there it falls back to file size, which puts some of the slowest
// files last. So the files measured slowest (below: seconds per file on a 2-core machine without
// a GPU, on SwiftShader, one file at a time) go first, longest first, whenever vitest has no
// duration of its own for them; then every other file, in vitest's order. A file named here that
// no longer exists is ignored; a stale figure only changes the order.
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

export const SLOWEST: Record<string, number> = {
  'test/cli/train-vocab.test.ts': 20.4,
  'test/cli/train.test.ts': 39.5,
  'test/bench/tfjs-peer.test.ts': 30.1,
  'test/train/gpu-policy.test.ts': 24.0,
  'test/model/lora-fusion.test.ts': 19.2,
  'test/bench/bench.test.ts': 10.4,
  'test/cli/golden.test.ts': 7.5,
  'test/cli/merge.test.ts': 6.0,
  'test/cli/generate-adapter.test.ts': 4.5,
  'test/cli/generate.test.ts': 4.5,
};

export class SlowestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const root = this.ctx.config.root;
    const path = (s: TestSpecification) => relative(root, s.moduleId).split('\\').join('/');
    const cached = (s: TestSpecification) => this.ctx.cache.getFileTestResults(`${s.project.name}:${path(s)}`)?.duration;
    if (sorted.every((s) => cached(s) !== undefined)) return sorted; // vitest's own order: failed first, then longest first
    /** Seconds: vitest's cached duration of the file, else the table's, else null. */
    const seconds = (s: TestSpecification): number | null => {
      const ms = cached(s);
      return ms !== undefined ? ms / 1000 : (SLOWEST[path(s)] ?? null);
    };
    // Within each project (vitest runs projects one after the other, in its order): the files with
    // a known duration first, longest first; then the others as vitest ordered them.
    const projects = sorted.map((s) => s.project.name).filter((n, i, all) => all.indexOf(n) === i);
    const keys = new Map(sorted.map((s, index) => [s, { project: projects.indexOf(s.project.name), seconds: seconds(s), index }]));
    return [...sorted].sort((a, b) => {
      const [x, y] = [keys.get(a)!, keys.get(b)!];
      if (x.project !== y.project) return x.project - y.project;
      if ((x.seconds === null) !== (y.seconds === null)) return x.seconds === null ? 1 : -1;
      if (x.seconds !== null && y.seconds !== null && x.seconds !== y.seconds) return y.seconds - x.seconds;
      return x.index - y.index;
    });
  }
}
