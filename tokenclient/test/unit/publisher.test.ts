import { AuthenticationError, PermissionError, TopicClient, TopicPublish } from '@gomomento/sdk-web';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TokenError, TokenSource, TopicPublisher } from '../../src/index.js';
import { FakeTvm } from './fake-tvm.js';

const vended = (n: number) => btoa(JSON.stringify({ api_key: `key-${n}`, endpoint: '127.0.0.1:9999' }));

let tvm: FakeTvm;
let issued: number;
let calls: { client: TopicClient; args: unknown[] }[];
let answers: TopicPublish.Response[];

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  vi.stubGlobal('navigator', { userAgent: 'vitest' });
  issued = 0;
  tvm = new FakeTvm();
  tvm.fallback = () => ({ status: 200, body: { authToken: vended(++issued), expiresAt: Math.floor(Date.now() / 1000) + 90 } });
  calls = [];
  answers = [];
  vi.spyOn(TopicClient.prototype, 'publish').mockImplementation(async function (this: TopicClient, ...args: unknown[]) {
    calls.push({ client: this, args });
    return answers.shift() ?? new TopicPublish.Success();
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe('TopicPublisher', () => {
  it('publishes with a client of the current token, one client per token', async () => {
    const tokens = new TokenSource({ url: '/t', fetch: tvm.fetch, random: () => 0 });
    const p = new TopicPublisher({ tokens });
    expect(await p.publish('cache', 'room', 'a')).toBeInstanceOf(TopicPublish.Success);
    await p.publish('cache', 'room', 'b');
    expect(calls.map(c => c.args)).toEqual([
      ['cache', 'room', 'a'],
      ['cache', 'room', 'b'],
    ]);
    expect(calls[1].client).toBe(calls[0].client);
    expect(tvm.requests).toHaveLength(1);
    await tokens.refresh();
    await p.publish('cache', 'room', 'c');
    expect(calls[2].client).not.toBe(calls[0].client);
    expect(await p.topicClient()).toBe(calls[2].client);
  });

  it('when Momento refuses the token (AUTHENTICATION_ERROR), gets a new one and publishes once more', async () => {
    const tokens = new TokenSource({ url: '/t', fetch: tvm.fetch });
    const p = new TopicPublisher({ tokens });
    answers.push(new TopicPublish.Error(new AuthenticationError('expired')));
    expect(await p.publish('cache', 'room', 'x')).toBeInstanceOf(TopicPublish.Success);
    expect(calls).toHaveLength(2);
    expect(calls[1].client).not.toBe(calls[0].client);
    expect(tvm.requests).toHaveLength(2);
  });

  it('returns other errors (e.g. PERMISSION_ERROR of a subscribe-only token) without retrying', async () => {
    const tokens = new TokenSource({ url: '/t', fetch: tvm.fetch });
    const p = new TopicPublisher({ tokens });
    const denied = new TopicPublish.Error(new PermissionError('subscribe only'));
    answers.push(denied);
    expect(await p.publish('cache', 'room', 'x')).toBe(denied);
    expect(calls).toHaveLength(1);
  });

  it("rejects with the token source's error when no token can be had", async () => {
    tvm.reply({ status: 403, body: { error: 'forbidden' } });
    const p = new TopicPublisher({ tokens: new TokenSource({ url: '/t', fetch: tvm.fetch }) });
    const err = await p.publish('cache', 'room', 'x').catch(e => e);
    expect(err).toBeInstanceOf(TokenError);
    expect(err.status).toBe(403);
    expect(calls).toHaveLength(0);
  });
});
