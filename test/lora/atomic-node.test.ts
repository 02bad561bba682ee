// Atomic file and folder writes (src/io/atomic-node.ts): new contents appear whole or not at all.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic, writeFolderAtomic } from '../../src/io/atomic-node.js';

const root = mkdtempSync(join(tmpdir(), 'atomic-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const bytes = (s: string) => new TextEncoder().encode(s);
const read = (p: string) => readFileSync(p, 'utf8');

describe('writeFolderAtomic', () => {
  it('creates a new folder (and its parents) with every file, leaving no temporaries', async () => {
    const dir = join(root, 'new', 'adapter');
    await writeFolderAtomic(dir, { 'adapter_config.json': bytes('{}'), 'adapter_model.safetensors': bytes('weights') });
    expect(readdirSync(dir).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(read(join(dir, 'adapter_model.safetensors'))).toBe('weights');
    expect(readdirSync(join(root, 'new'))).toEqual(['adapter']);
  });

  it('replaces the files of an existing folder and leaves its other files alone', async () => {
    const dir = join(root, 'existing');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a'), 'old a');
    writeFileSync(join(dir, 'README.md'), 'keep me');
    await writeFolderAtomic(dir, { a: bytes('new a'), b: bytes('new b') });
    expect(readdirSync(dir).sort()).toEqual(['README.md', 'a', 'b']);
    expect([read(join(dir, 'a')), read(join(dir, 'b')), read(join(dir, 'README.md'))]).toEqual(['new a', 'new b', 'keep me']);
    expect(readdirSync(root).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('on a failure part-way, keeps the previous contents and removes every temporary', async () => {
    const dir = join(root, 'failing');
    mkdirSync(dir);
    writeFileSync(join(dir, 'adapter_config.json'), 'old config');
    writeFileSync(join(dir, 'adapter_model.safetensors'), 'old weights');
    // The third file's name is longer than any file system allows (ENAMETOOLONG), after two were written.
    const files = { 'adapter_config.json': bytes('new config'), 'adapter_model.safetensors': bytes('new weights'), ['x'.repeat(300)]: bytes('!') };
    await expect(writeFolderAtomic(dir, files)).rejects.toThrow(/ENAMETOOLONG|name too long/i);
    expect(readdirSync(dir).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect([read(join(dir, 'adapter_config.json')), read(join(dir, 'adapter_model.safetensors'))]).toEqual(['old config', 'old weights']);
    expect(readdirSync(root).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('refuses to replace a folder with a file before changing anything', async () => {
    const dir = join(root, 'blocked');
    mkdirSync(join(dir, 'b'), { recursive: true });
    writeFileSync(join(dir, 'b', 'inside'), 'x');
    writeFileSync(join(dir, 'a'), 'old a');
    await expect(writeFolderAtomic(dir, { a: bytes('new a'), b: bytes('new b') })).rejects.toThrow(/is a folder/);
    expect(read(join(dir, 'a'))).toBe('old a');
    expect(readdirSync(dir).sort()).toEqual(['a', 'b']);
    expect(readdirSync(root).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('refuses names that are not plain file names', async () => {
    await expect(writeFolderAtomic(join(root, 'names'), { '../escape': bytes('x') })).rejects.toThrow(/not a plain file name/);
    expect(readdirSync(root)).not.toContain('names');
  });
});

describe('writeFileAtomic', () => {
  it('writes and replaces a file', async () => {
    const p = join(root, 'single.json');
    await writeFileAtomic(p, bytes('one'));
    await writeFileAtomic(p, bytes('two'));
    expect(read(p)).toBe('two');
    expect(readdirSync(root).filter((n) => n.startsWith('single.json'))).toEqual(['single.json']);
  });

  it('fails cleanly where the file cannot be created, leaving the old file', async () => {
    const p = join(root, 'keep.json');
    writeFileSync(p, 'old');
    await expect(writeFileAtomic(join(root, 'no-such-dir', 'x.json'), bytes('new'))).rejects.toThrow(/ENOENT/);
    // A target that is a folder: the rename fails and the temporary is removed.
    mkdirSync(join(root, 'folder.json'));
    await expect(writeFileAtomic(join(root, 'folder.json'), bytes('new'))).rejects.toThrow();
    expect(read(p)).toBe('old');
    expect(readdirSync(root).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });
});
