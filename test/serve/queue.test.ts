// The GPU queue (src/serve/queue.ts) and the API-key check (src/serve/auth.ts).
import { describe, expect, it } from 'vitest';
import { apiKeyChecker } from '../../src/serve/auth.js';
import { GpuQueue } from '../../src/serve/queue.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('GpuQueue', () => {
  it('runs jobs one at a time, in the order they came, and a failed job does not stop the next', async () => {
    const q = new GpuQueue();
    let active = 0;
    let peak = 0;
    const order: number[] = [];
    const job = (k: number, ms: number, fail = false) => async () => {
      active++;
      peak = Math.max(peak, active);
      await sleep(ms);
      order.push(k);
      active--;
      if (fail) throw new Error(`job ${k} failed`);
      return k * 10;
    };
    const results = [q.run(job(1, 30)), q.run(job(2, 5, true)), q.run(job(3, 1)), q.run(job(4, 10))];
    expect(q.waiting).toBe(4); // (none has started: each waits for the promise before it)
    const settled = await Promise.allSettled(results);
    expect(order).toEqual([1, 2, 3, 4]);
    expect(peak).toBe(1);
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message))).toEqual([10, 'job 2 failed', 30, 40]);
    await q.idle();
    expect(q.waiting).toBe(0);
    expect(q.busy).toBe(false);
  });
});

describe('apiKeyChecker', () => {
  it('without a key lets everything through', () => {
    expect(apiKeyChecker(undefined)(undefined)).toBeNull();
    expect(apiKeyChecker(undefined)('Bearer anything')).toBeNull();
  });

  it('with a key: the right bearer passes; a wrong, longer, shorter or missing one is a 401', () => {
    const check = apiKeyChecker('s3cret-key');
    expect(check('Bearer s3cret-key')).toBeNull();
    expect(check('bearer  s3cret-key')).toBeNull(); // (the scheme is case-insensitive)
    for (const header of ['Bearer s3cret-kez', 'Bearer s3cret-key-and-more', 'Bearer s3', 'Basic s3cret-key', 's3cret-key']) {
      const e = check(header);
      expect(e?.status, header).toBe(401);
      expect(e?.toBody().error.type, header).toBe('invalid_request_error');
    }
    expect(check('Bearer s3cret-kez')?.toBody()).toEqual({ error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
    expect(check('Bearer s3cret-kez')?.code).toBe('invalid_api_key');
    expect(check('Basic s3cret-key')?.code).toBe('missing_api_key');
    expect(check(undefined)?.code).toBe('missing_api_key');
    expect(check('Bearer ')?.code).toBe('missing_api_key');
    expect(check(undefined)?.message).toMatch(/Authorization: Bearer/);
  });

  it('takes as long for a guess that shares all but the last character of the key as for one that shares none', () => {
    // A byte-by-byte comparison returns at the first difference: the near guess would take longer.
    // Here both keys are hashed and the digests compared in constant time; the medians of
    // interleaved batches of checks stay within a factor that timing noise allows.
    const key = 'k'.repeat(4096);
    const check = apiKeyChecker(key);
    const near = `Bearer ${'k'.repeat(4095)}x`;
    const far = `Bearer x${'k'.repeat(4095)}`;
    const batch = (header: string) => {
      const t = performance.now();
      for (let k = 0; k < 200; k++) check(header);
      return performance.now() - t;
    };
    const times: Record<string, number[]> = { near: [], far: [] };
    for (let round = 0; round < 30; round++) {
      times.near.push(batch(near));
      times.far.push(batch(far));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    const ratio = median(times.near) / median(times.far);
    expect(ratio).toBeGreaterThan(0.7);
    expect(ratio).toBeLessThan(1.4);
  });

  it('an empty key is refused when the server starts', () => {
    expect(() => apiKeyChecker('')).toThrow(/the API key is empty/);
  });
});
