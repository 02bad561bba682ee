// The command line's exit codes and help, one rule for every command (src/cli/main.ts): 2 with the
// usage on stderr for a wrong command line (no command, an unknown one, an unknown option, a
// missing or malformed value), 1 for a failure while acting (a file that does not exist), 0 with
// the usage on stdout for --help, alone or after a command, and the version for --version.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliInProcess } from './run-cli.js';

const version = (JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;

describe('webgpu-lora usage and exit codes', () => {
  it('exits 2 with the usage for a wrong command line, naming what is wrong', async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /no command given/],
      [['bogus'], /unknown command 'bogus'/],
      [['train'], /train needs --model/],
      [['train', '--bogus'], /Unknown option '--bogus'/],
      [['train', '--model', 'x', '--data', 'y', '--out', 'z', '--max-steps', 'abc'], /--max-steps must be a number, got 'abc'/],
      [['generate', '--model', 'x'], /generate needs --prompt <text> or --input <text>/],
      [['serve', '--model', 'x', '--port', 'abc'], /--port must be a number, got 'abc'/],
      [['info', '--bogus'], /info takes no options, got '--bogus'/],
    ];
    for (const [args, message] of cases) {
      const r = await cliInProcess(args);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^webgpu-lora: ${message.source}`));
      expect(r.stderr, args.join(' ')).toMatch(/Usage:/);
      expect(r.stdout).toBe('');
    }
    // A known command's mistake shows that command's usage, not every command's.
    const train = await cliInProcess(['train']);
    expect(train.stderr).toMatch(/webgpu-lora train --model/);
    expect(train.stderr).not.toMatch(/webgpu-lora merge --model/);
    expect(train.stderr).toMatch(/webgpu-lora --help lists every command/);
  });

  it('exits 1 for a failure while acting', async () => {
    const r = await cliInProcess(['train', '--model', 'x', '--data', '/no/such/file.jsonl', '--out', '/tmp/webgpu-lora-usage-out']);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("webgpu-lora: --data '/no/such/file.jsonl' is not a file\n");
  });

  it('prints the usage on stdout with exit 0 for --help, alone or after a command, and the version for --version', async () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const r = await cliInProcess(args);
      expect([r.status, r.stderr]).toEqual([0, '']);
      expect(r.stdout).toMatch(/webgpu-lora train --model[\s\S]*webgpu-lora merge --model/);
    }
    for (const command of ['train', 'generate', 'serve', 'export-gguf', 'info']) {
      const r = await cliInProcess([command, '--help']);
      expect([r.status, r.stderr], command).toEqual([0, '']);
      expect(r.stdout).toMatch(new RegExp(`^  webgpu-lora ${command}`));
    }
    const v = cli(['--version']);
    expect([v.status, v.stdout, v.stderr]).toEqual([0, `${version}\n`, '']);
  });
});
