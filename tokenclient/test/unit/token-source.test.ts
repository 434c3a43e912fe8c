import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ForbiddenError, TokenError, TokenSource, type TokenSourceOptions, UnauthorizedError } from '../../src/index.js';
import { FakeTvm, tokenBody } from './fake-tvm.js';

const start = Date.parse('2026-01-01T00:00:00Z');

beforeEach(() => {
  vi.useFakeTimers({ now: start, toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

function source(tvm: FakeTvm, o: Partial<TokenSourceOptions> = {}): TokenSource {
  return new TokenSource({ url: 'https://tvm.example/api/momento/token', fetch: tvm.fetch, random: () => 0, ...o });
}

/** Settles p (advancing fake time as needed) and returns its outcome. */
async function settle<T>(p: Promise<T>, ms = 600_000): Promise<{ value?: T; error?: unknown }> {
  let out: { value?: T; error?: unknown } | undefined;
  p.then(
    value => (out = { value }),
    error => (out = { error }),
  );
  for (let waited = 0; !out && waited <= ms; waited += 10) await vi.advanceTimersByTimeAsync(10);
  if (!out) throw new Error('promise did not settle');
  return out;
}

describe('TokenSource: fetching', () => {
  it('GETs the URL with the headers of the caller-supplied async function, and returns the token', async () => {
    const tvm = new FakeTvm().reply({ status: 200, body: { authToken: 'T1', expiresAt: start / 1000 + 900 } });
    let n = 0;
    const s = source(tvm, { headers: async () => ({ Authorization: `Bearer idp-${++n}` }) });
    const t = await s.get();
    expect(t.authToken).toBe('T1');
    expect(t.expiresAt).toBe(start / 1000 + 900);
    expect(t.receivedAtMs).toBe(start);
    expect(t.expiresAtMs).toBe(start + 900_000);
    expect(t.clockSkewMs).toBeNull();
    expect(tvm.requests).toHaveLength(1);
    const r = tvm.requests[0];
    expect(r.url).toBe('https://tvm.example/api/momento/token');
    expect(r.method).toBe('GET');
    expect(r.headers.get('authorization')).toBe('Bearer idp-1');
    expect(r.cache).toBe('no-store');
    expect(r.credentials).toBe('same-origin');
    expect(s.current).toBe(t);
  });

  it('calls a URL function for each request', async () => {
    const tvm = new FakeTvm().alwaysOk(900);
    let room = 'a';
    const s = source(tvm, { url: () => `/t?topic=${room}` });
    await s.get();
    room = 'b';
    await s.refresh();
    expect(tvm.requests.map(r => r.url)).toEqual(['/t?topic=a', '/t?topic=b']);
  });

  it('keeps one request in flight however many callers ask', async () => {
    const tvm = new FakeTvm().reply({ status: 200, body: tokenBody(900, 'T1'), delayMs: 500 });
    const s = source(tvm);
    const all = Promise.all([s.get(), s.get(), s.refresh(), s.get()]);
    await vi.advanceTimersByTimeAsync(500);
    const tokens = await all;
    expect(tvm.requests).toHaveLength(1);
    expect(new Set(tokens.map(t => t.authToken))).toEqual(new Set(['T1']));
  });

  it('rejects a 200 without authToken or expiresAt as bad_response, without retrying', async () => {
    for (const body of [{ expiresAt: 1 }, { authToken: 'x' }, { authToken: '', expiresAt: 5 }, 'not json', { authToken: 'x', expiresAt: '5' }]) {
      const tvm = new FakeTvm().reply({ status: 200, body });
      const err = await source(tvm).get().catch(e => e);
      expect(err).toBeInstanceOf(TokenError);
      expect(err.kind).toBe('bad_response');
      expect(err.retryable).toBe(false);
      expect(tvm.requests).toHaveLength(1);
    }
  });

  it('rejects get() after close() with kind "closed", and close() aborts the request in flight', async () => {
    const tvm = new FakeTvm().reply({ hang: true });
    const s = source(tvm);
    const p = s.get().catch(e => e);
    await vi.advanceTimersByTimeAsync(10);
    s.close();
    const err = await p;
    expect(err).toBeInstanceOf(TokenError);
    expect(err.kind).toBe('closed');
    expect((await s.get().catch(e => e)).kind).toBe('closed');
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('TokenSource: typed failures', () => {
  it('401 without a hook: UnauthorizedError with the challenge, one request', async () => {
    const tvm = new FakeTvm().reply({
      status: 401,
      body: { error: 'unauthorized', message: 'missing or invalid credentials' },
      headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
    });
    const err = await source(tvm).get().catch(e => e);
    expect(err).toBeInstanceOf(UnauthorizedError);
    expect(err).toBeInstanceOf(TokenError);
    expect(err.kind).toBe('unauthorized');
    expect(err.status).toBe(401);
    expect(err.code).toBe('unauthorized');
    expect(err.challenge).toBe('Bearer error="invalid_token"');
    expect(err.message).toContain('missing or invalid credentials');
    expect(err.retryable).toBe(false);
    expect(tvm.requests).toHaveLength(1);
  });

  it('401 with a hook that re-authenticates: retries once with the new headers', async () => {
    const tvm = new FakeTvm().reply({ status: 401, body: { error: 'unauthorized' } }, FakeTvm.ok(900));
    let idToken = 'stale';
    const hook = vi.fn(async (_e: UnauthorizedError) => {
      idToken = 'fresh';
      return true;
    });
    const t = await source(tvm, { headers: () => ({ Authorization: `Bearer ${idToken}` }), onUnauthorized: hook }).get();
    expect(t.authToken).toMatch(/^tok-/);
    expect(hook).toHaveBeenCalledTimes(1);
    expect(hook.mock.calls[0][0]).toBeInstanceOf(UnauthorizedError);
    expect(tvm.requests.map(r => r.headers.get('authorization'))).toEqual(['Bearer stale', 'Bearer fresh']);
  });

  it('401 again after the hook: UnauthorizedError, the hook called only once', async () => {
    const tvm = new FakeTvm().reply({ status: 401, body: { error: 'unauthorized' } }, { status: 401, body: { error: 'unauthorized' } });
    const hook = vi.fn(() => true);
    const err = await source(tvm, { onUnauthorized: hook }).get().catch(e => e);
    expect(err).toBeInstanceOf(UnauthorizedError);
    expect(hook).toHaveBeenCalledTimes(1);
    expect(tvm.requests).toHaveLength(2);
  });

  it('401 with a hook that declines: UnauthorizedError after one request', async () => {
    const tvm = new FakeTvm().reply({ status: 401, body: { error: 'unauthorized' } });
    const err = await source(tvm, { onUnauthorized: () => false }).get().catch(e => e);
    expect(err).toBeInstanceOf(UnauthorizedError);
    expect(tvm.requests).toHaveLength(1);
  });

  it('403: ForbiddenError, never retried and never sent to the 401 hook', async () => {
    const tvm = new FakeTvm().reply({ status: 403, body: { error: 'forbidden', message: 'no scope is granted for this request' } });
    const hook = vi.fn(() => true);
    const err = await source(tvm, { onUnauthorized: hook }).get().catch(e => e);
    expect(err).toBeInstanceOf(ForbiddenError);
    expect(err).not.toBeInstanceOf(UnauthorizedError);
    expect(err.kind).toBe('forbidden');
    expect(err.status).toBe(403);
    expect(err.retryable).toBe(false);
    expect(hook).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(tvm.requests).toHaveLength(1);
  });

  it('400: bad_request, not retried; other 4xx: bad_response', async () => {
    const tvm = new FakeTvm().reply({ status: 400, body: { error: 'bad_request', message: 'malformed request' } }, { status: 404, body: 'nope' });
    const s = source(tvm);
    const e1 = await s.get().catch(e => e);
    expect([e1.kind, e1.code, e1.retryable]).toEqual(['bad_request', 'bad_request', false]);
    const e2 = await s.get().catch(e => e);
    expect([e2.kind, e2.code, e2.status]).toEqual(['bad_response', 'http_404', 404]);
    expect(tvm.requests).toHaveLength(2);
  });

  it('never puts the token or the request headers into an error message', async () => {
    const tvm = new FakeTvm().reply({ status: 403, body: { error: 'forbidden', message: 'no' } });
    const err = await source(tvm, { headers: () => ({ Authorization: 'Bearer SECRET-IDP-TOKEN' }) }).get().catch(e => e);
    expect(String(err) + JSON.stringify(err)).not.toContain('SECRET-IDP-TOKEN');
  });
});

describe('TokenSource: retries', () => {
  it('429 and 503: waits the Retry-After (seconds or HTTP date) before asking again', async () => {
    const tvm = new FakeTvm().reply(
      { status: 429, body: { error: 'rate_limited' }, headers: { 'Retry-After': '2' } },
      { status: 503, body: { error: 'upstream_unavailable' }, headers: { 'Retry-After': new Date(start + 2000 + 5000).toUTCString() } },
      FakeTvm.ok(900),
    );
    const retries: number[] = [];
    const s = source(tvm, { random: () => 0.999 });
    s.on('retry', r => retries.push(r.delayMs));
    const out = settle(s.get());
    await vi.advanceTimersByTimeAsync(1999);
    expect(tvm.requests).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(201); // up to +10% jitter
    expect(tvm.requests).toHaveLength(2);
    expect(tvm.requests[1].at - tvm.requests[0].at).toBeGreaterThanOrEqual(2000);
    const t = (await out).value!;
    expect(t.authToken).toMatch(/^tok-/);
    expect(tvm.requests).toHaveLength(3);
    // The HTTP date was 5 s after the second request.
    expect(tvm.requests[2].at - tvm.requests[1].at).toBeGreaterThanOrEqual(5000);
    expect(tvm.requests[2].at - tvm.requests[1].at).toBeLessThanOrEqual(5500);
    expect(retries[0]).toBeGreaterThanOrEqual(2000);
  });

  it('caps a huge Retry-After at retry.maxRetryAfterMs', async () => {
    const tvm = new FakeTvm().reply({ status: 503, body: {}, headers: { 'Retry-After': '86400' } }, FakeTvm.ok(900));
    const s = source(tvm, { retry: { maxRetryAfterMs: 3000 } });
    await settle(s.get());
    expect(tvm.requests[1].at - tvm.requests[0].at).toBe(3000);
  });

  it('429/503 without Retry-After, 5xx, network errors and timeouts: exponential backoff with jitter', async () => {
    const tvm = new FakeTvm().reply(
      { networkError: true },
      { status: 502, body: { error: 'upstream_rejected' } },
      { status: 504, body: { error: 'upstream_timeout' } },
      { hang: true },
      { status: 503, body: {} },
      FakeTvm.ok(900),
    );
    const kinds: string[] = [];
    const s = source(tvm, { random: () => 1, requestTimeoutMs: 1000, retry: { maxAttempts: 6, initialDelayMs: 100, maxDelayMs: 1000 } });
    s.on('retry', r => kinds.push(r.error.kind));
    const out = await settle(s.get());
    expect(out.value?.authToken).toMatch(/^tok-/);
    expect(kinds).toEqual(['network', 'server', 'server', 'timeout', 'unavailable']);
    const gaps = tvm.requests.slice(1).map((r, i) => r.at - tvm.requests[i].at);
    // random() = 1: each wait is its bound, 100, 200, 400, 800 (+ the 1 s timeout), 1000 (capped).
    expect(gaps).toEqual([100, 200, 400, 1000 + 800, 1000]);
  });

  it('jittered backoff stays within [bound/2, bound]', async () => {
    const tvm = new FakeTvm().reply({ networkError: true }, { networkError: true }, FakeTvm.ok(900));
    const s = source(tvm, { random: () => 0, retry: { initialDelayMs: 400 } });
    await settle(s.get());
    const gaps = tvm.requests.slice(1).map((r, i) => r.at - tvm.requests[i].at);
    expect(gaps).toEqual([200, 400]);
  });

  it('gives up after retry.maxAttempts with a retryable TokenError', async () => {
    const tvm = new FakeTvm();
    tvm.fallback = () => ({ networkError: true });
    const out = await settle(source(tvm, { retry: { maxAttempts: 3 } }).get());
    const err = out.error as TokenError;
    expect(err).toBeInstanceOf(TokenError);
    expect(err.kind).toBe('network');
    expect(err.retryable).toBe(true);
    expect(err.attempts).toBe(3);
    expect(tvm.requests).toHaveLength(3);
  });
});

describe('TokenSource: freshness and refresh ahead of expiry', () => {
  it('get() reuses the token until its refresh time, then refreshes', async () => {
    const tvm = new FakeTvm().alwaysOk(90);
    const s = source(tvm);
    const t1 = await s.get();
    // 90 s token: refresh a third (30 s) before expiry, with jitter 0: at 60 s.
    expect(t1.refreshAtMs - t1.receivedAtMs).toBe(60_000);
    await vi.advanceTimersByTimeAsync(59_000);
    expect(await s.get()).toBe(t1);
    expect(tvm.requests).toHaveLength(1);
    // Past the refresh time but far from expiry: the current token now, a new one in the background.
    await vi.advanceTimersByTimeAsync(2000);
    expect(await s.get()).toBe(t1);
    await vi.advanceTimersByTimeAsync(0);
    expect(tvm.requests).toHaveLength(2);
    expect(s.current?.authToken).not.toBe(t1.authToken);
  });

  it('get() waits for a new token when the current one expires within expiryMarginMs', async () => {
    const tvm = new FakeTvm().reply(FakeTvm.ok(90), () => ({ status: 200, body: tokenBody(90, 'T2'), delayMs: 100 }));
    const s = source(tvm);
    const t1 = await s.get();
    await vi.advanceTimersByTimeAsync(t1.expiresAtMs - Date.now() - 1000); // 1 s left, margin 2 s
    let got: string | undefined;
    void s.get().then(t => (got = t.authToken));
    await vi.advanceTimersByTimeAsync(99);
    expect(got).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(got).toBe('T2');
  });

  it('refreshes in the background while a "token" listener is registered, ahead of expiry with jitter', async () => {
    const tvm = new FakeTvm().alwaysOk(90);
    let r = 0;
    const s = source(tvm, { random: () => r, jitter: 0.5 });
    const seen: string[] = [];
    const off = s.on('token', t => seen.push(t.authToken));
    r = 1; // the most jitter: (90 - 30) * (1 - 0.5) = 30 s
    await s.get();
    await vi.advanceTimersByTimeAsync(29_999);
    expect(tvm.requests).toHaveLength(1);
    r = 0; // no jitter for the next one: 60 s
    await vi.advanceTimersByTimeAsync(1);
    expect(tvm.requests).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(59_999);
    expect(tvm.requests).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(tvm.requests).toHaveLength(3);
    expect(seen).toEqual(['tok-1', 'tok-2', 'tok-3']);
    off();
    await vi.advanceTimersByTimeAsync(600_000);
    expect(tvm.requests).toHaveLength(3);
  });

  it('refreshes at most maxRefreshAheadMs (60 s) before expiry', async () => {
    const tvm = new FakeTvm().alwaysOk(900);
    const s = source(tvm);
    s.on('token', () => undefined);
    const t = await s.get();
    expect(t.expiresAtMs - t.refreshAtMs).toBe(60_000);
  });

  it('never refreshes sooner than minRefreshDelayMs, nor after expiry, for short tokens', async () => {
    const tvm = new FakeTvm().alwaysOk(1);
    const s = source(tvm);
    const t = await s.get();
    expect(t.refreshAtMs - t.receivedAtMs).toBeGreaterThanOrEqual(500); // half the lifetime at least
    expect(t.refreshAtMs).toBeLessThanOrEqual(t.expiresAtMs);
  });

  it('a failed background refresh emits "error" and is retried with backoff; the next success resumes the schedule', async () => {
    const tvm = new FakeTvm().reply(FakeTvm.ok(90), { status: 503, body: {} }, { status: 503, body: {} }, FakeTvm.ok(90));
    const s = source(tvm, { retry: { maxAttempts: 1, initialDelayMs: 1000 } });
    const errors: TokenError[] = [];
    const tokens: string[] = [];
    s.on('error', e => errors.push(e));
    s.on('token', t => tokens.push(t.authToken));
    await s.get();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(tvm.requests).toHaveLength(2);
    expect(errors.map(e => e.kind)).toEqual(['unavailable']);
    await vi.advanceTimersByTimeAsync(500); // backoff 500..1000 ms with random() = 0
    expect(tvm.requests).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1000);
    expect(tvm.requests).toHaveLength(4);
    expect(tokens).toHaveLength(2);
  });

  it('a 403 on a background refresh emits "error" and stops refreshing', async () => {
    const tvm = new FakeTvm().reply(FakeTvm.ok(90), { status: 403, body: { error: 'forbidden' } });
    const s = source(tvm);
    const errors: TokenError[] = [];
    s.on('error', e => errors.push(e));
    s.on('token', () => undefined);
    await s.get();
    await vi.advanceTimersByTimeAsync(600_000);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(ForbiddenError);
    expect(tvm.requests).toHaveLength(2);
  });

  it('invalidate() makes the next get() fetch', async () => {
    const tvm = new FakeTvm().alwaysOk(900);
    const s = source(tvm);
    await s.get();
    s.invalidate();
    expect(s.current).toBeNull();
    await s.get();
    expect(tvm.requests).toHaveLength(2);
  });
});

describe('TokenSource: clock skew', () => {
  it('uses the Date header when the server clock is ahead: the expiry is moved to the local clock', async () => {
    const server = start + 10 * 60_000; // the server is 10 minutes ahead
    const tvm = new FakeTvm().reply({
      status: 200,
      body: { authToken: 'T', expiresAt: server / 1000 + 90 },
      headers: { Date: new Date(server).toUTCString() },
    });
    const t = await source(tvm).get();
    expect(t.clockSkewMs).toBe(10 * 60_000 + 500);
    // 90 s from now on the local clock (less the Date header's half second).
    expect(t.expiresAtMs).toBe(start + 90_000 - 500);
    expect(t.refreshAtMs).toBeLessThan(t.expiresAtMs);
  });

  it('uses the Date header when the server clock is behind (a token that would look expired)', async () => {
    const server = start - 10 * 60_000;
    const tvm = new FakeTvm().alwaysOk(0).reply({
      status: 200,
      body: { authToken: 'T', expiresAt: server / 1000 + 90 },
      headers: { Date: new Date(server).toUTCString() },
    });
    const s = source(tvm);
    s.on('token', () => undefined);
    const t = await s.get();
    expect(t.expiresAtMs - Date.now()).toBeGreaterThan(88_000);
    // and the background refresh is not a tight loop
    await vi.advanceTimersByTimeAsync(30_000);
    expect(tvm.requests).toHaveLength(1);
  });

  it('trusts the local clock when the Date header agrees with it (within its one-second resolution)', async () => {
    vi.setSystemTime(start + 700);
    const tvm = new FakeTvm().reply({
      status: 200,
      body: { authToken: 'T', expiresAt: start / 1000 + 90 },
      headers: { Date: new Date(start).toUTCString() },
    });
    const t = await source(tvm).get();
    expect(t.clockSkewMs).toBe(0);
    expect(t.expiresAtMs).toBe(start + 90_000);
  });

  it('without a readable Date header, a token that looks expired gets fallbackLifetimeMs instead of a refresh loop', async () => {
    const tvm = new FakeTvm().reply({ status: 200, body: { authToken: 'T', expiresAt: start / 1000 - 3600 } }).alwaysOk(900);
    const s = source(tvm, { fallbackLifetimeMs: 30_000 });
    s.on('token', () => undefined);
    const t = await s.get();
    expect(t.clockSkewMs).toBeNull();
    expect(t.expiresAtMs).toBe(start + 30_000);
    await vi.advanceTimersByTimeAsync(19_000);
    expect(tvm.requests).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(tvm.requests).toHaveLength(2);
  });
});
