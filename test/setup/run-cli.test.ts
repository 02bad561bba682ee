// The CLI tests' in-process runner (test/cli/run-cli.ts) against the binary: the same exit status
// and output for usage errors, the help and no command at all; a process.exit() ends a run as it
// ends the process; and nothing a run changes outlives it.
import { mkdtempSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it, vi } from 'vitest';
import { cli, cliInProcess } from '../cli/run-cli.js';

describe('cliInProcess', () => {
  it('gives the exit status, stdout and stderr that the binary gives', async () => {
    for (const args of [['frobnicate'], ['--help'], [], ['generate', '--model', 'x', '--prompt', 'y', '--top-k', '1.5']]) {
      const binary = cli(args);
      const inProcess = await cliInProcess(args);
      expect(inProcess, args.join(' ')).toEqual({ status: binary.status, stdout: binary.stdout, stderr: binary.stderr });
    }
  });

  it('leaves the working folder, the environment, the exit code, the streams and the console as they were', async () => {
    const cwd = realpathSync(mkdtempSync(`${tmpdir()}/webgpu-lora-cwd-`));
    const before = { cwd: process.cwd(), exitCode: process.exitCode, env: { ...process.env } };
    const streams = { stdout: process.stdout.write, stderr: process.stderr.write, console: globalThis.console, exit: process.exit };
    process.chdir(cwd);
    process.exitCode = 3;
    try {
      const [a, b] = await Promise.all([cliInProcess(['frobnicate']), cliInProcess(['--help'])]); // (they take turns)
      expect([a.status, b.status]).toEqual([2, 0]);
      expect(a.stdout).toBe('');
      expect(b.stderr).toBe('');
      expect(process.cwd()).toBe(cwd);
      expect(process.exitCode).toBe(3);
      expect({ ...process.env }).toEqual(before.env);
      expect(process.stdout.write).toBe(streams.stdout);
      expect(process.stderr.write).toBe(streams.stderr);
      expect(globalThis.console).toBe(streams.console);
      expect(process.exit).toBe(streams.exit);
    } finally {
      process.chdir(before.cwd);
      process.exitCode = before.exitCode;
    }
  });

  it('ends a run at process.exit(), with its code, and drops the signal listeners a run added', async () => {
    const sigint = process.listenerCount('SIGINT');
    vi.doMock('../../src/cli/main.js', () => ({
      main: async () => {
        console.log('started');
        process.on('SIGINT', () => undefined);
        try {
          process.exit(130);
        } catch (e) {
          process.stderr.write(`webgpu-lora: ${(e as Error).message}\n`); // (what main() does with an error: never reached in a process)
          return 1;
        }
      },
    }));
    try {
      expect(await cliInProcess(['train'])).toEqual({ status: 130, stdout: 'started\n', stderr: '' });
      expect(process.listenerCount('SIGINT')).toBe(sigint);
    } finally {
      vi.doUnmock('../../src/cli/main.js');
    }
  });
});
