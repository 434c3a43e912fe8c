import { describe, expect, it, vi } from 'vitest';
import { backoffDelay, parseRetryAfter, resolveBackoff, sleep } from '../../src/backoff.js';

describe('backoffDelay', () => {
  const b = resolveBackoff({ initialDelayMs: 100, maxDelayMs: 1000, multiplier: 2 });
  it('doubles its bound per retry up to maxDelayMs, with equal jitter', () => {
    expect([0, 1, 2, 3, 4, 10].map(n => backoffDelay(n, b, () => 1))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect([0, 1, 2, 3, 4].map(n => backoffDelay(n, b, () => 0))).toEqual([50, 100, 200, 400, 500]);
  });
  it('defaults to 500 ms doubling to 30 s', () => {
    expect(resolveBackoff(undefined)).toEqual({ initialDelayMs: 500, maxDelayMs: 30_000, multiplier: 2 });
  });
  it('refuses nonsense', () => {
    expect(() => resolveBackoff({ initialDelayMs: 0 })).toThrow(RangeError);
    expect(() => resolveBackoff({ initialDelayMs: 10, maxDelayMs: 5 })).toThrow(RangeError);
    expect(() => resolveBackoff({ multiplier: 0.5 })).toThrow(RangeError);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it.each([
    ['3', 3000],
    [' 0 ', 0],
    ['Thu, 01 Jan 2026 00:00:07 GMT', 7000],
    ['Wed, 31 Dec 2025 23:00:00 GMT', 0],
  ])('%j → %d ms', (v, want) => expect(parseRetryAfter(v, now)).toBe(want));
  it.each([null, '', '-1', '1.5', 'soon', '12abc'])('%j → undefined', v => expect(parseRetryAfter(v, now)).toBeUndefined());
});

describe('sleep', () => {
  it('resolves after the time, or rejects with AbortError when aborted', async () => {
    vi.useFakeTimers();
    try {
      let done = false;
      void sleep(100).then(() => (done = true));
      await vi.advanceTimersByTimeAsync(99);
      expect(done).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(done).toBe(true);
      const ctl = new AbortController();
      const p = sleep(100, ctl.signal).catch(e => e.name);
      ctl.abort();
      expect(await p).toBe('AbortError');
      expect(vi.getTimerCount()).toBe(0);
      ctl.abort();
      expect(await sleep(5, ctl.signal).catch(e => e.name)).toBe('AbortError');
    } finally {
      vi.useRealTimers();
    }
  });
});
