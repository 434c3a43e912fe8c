import {
  AuthenticationError,
  type CredentialProvider,
  PermissionError,
  ServerUnavailableError,
  TopicSubscribe,
  UnknownError,
} from '@gomomento/sdk-web';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type Discontinuity,
  ForbiddenError,
  type Position,
  RefreshingTopicSubscription,
  SilenceError,
  type SubscriptionStatus,
  TokenSource,
  subscribeTopic,
} from '../../src/index.js';
import { FakeTopic, type FakeStream } from './fake-topic.js';
import { FakeTvm } from './fake-tvm.js';

const start = Date.parse('2026-01-01T00:00:00Z');

let topic: FakeTopic;
let tvm: FakeTvm;
let tokens: TokenSource;

beforeEach(() => {
  vi.useFakeTimers({ now: start, toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  topic = new FakeTopic();
  tvm = new FakeTvm().alwaysOk(90); // refreshed 60 s after receipt (random() = 0)
  tokens = new TokenSource({ url: '/token', fetch: tvm.fetch, random: () => 0 });
});
afterEach(() => {
  topic.stop();
  tokens.close();
  vi.useRealTimers();
});

interface Run {
  sub: RefreshingTopicSubscription;
  seqs: number[];
  values: string[];
  positions: Position[];
  discontinuities: Discontinuity[];
  errors: { error: unknown; fatal: boolean }[];
  statuses: SubscriptionStatus[];
}

function subscribe(extra: Partial<Parameters<typeof subscribeTopic>[0]> = {}): Run {
  const run: Omit<Run, 'sub'> = { seqs: [], values: [], positions: [], discontinuities: [], errors: [], statuses: [] };
  const sub = subscribeTopic({
    tokens,
    cacheName: 'cache',
    topicName: 'room',
    openStream: topic.openStream,
    credentials: t => ({ getAuthToken: () => t.authToken }) as unknown as CredentialProvider,
    random: () => 0,
    onItem: (item, pos) => {
      run.seqs.push(item.sequenceNumber());
      run.values.push(item.valueString());
      run.positions.push(pos);
    },
    onDiscontinuity: d => run.discontinuities.push(d),
    onError: (error, fatal) => run.errors.push({ error, fatal }),
    onStatus: s => run.statuses.push(s),
    ...extra,
  });
  return { sub, ...run } as Run;
}

const sdkError = (e: Error) => new TopicSubscribe.Error(e as never);
const consecutive = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function publishEvery(ms: number, count: number): Promise<number[]> {
  const seqs: number[] = [];
  for (let i = 0; i < count; i++) {
    seqs.push(topic.publish(`m${topic.next}`));
    await vi.advanceTimersByTimeAsync(ms);
  }
  return seqs;
}

describe('RefreshingTopicSubscription', () => {
  it('subscribes with the current token and delivers items in order with their position', async () => {
    const r = subscribe();
    await r.sub.ready;
    expect(r.sub.status.state).toBe('live');
    expect(topic.open).toHaveLength(1);
    expect(topic.open[0].token).toBe('tok-1');
    expect(topic.open[0].req.resumeAfter).toBeNull();
    expect(topic.open[0].req.cacheName).toBe('cache');
    expect(topic.open[0].req.topicName).toBe('room');
    await publishEvery(10, 3);
    expect(r.seqs).toEqual([1, 2, 3]);
    expect(r.values).toEqual(['m1', 'm2', 'm3']);
    expect(r.positions[2]).toEqual({ sequenceNumber: 3, sequencePage: 1 });
    expect(r.sub.position).toEqual({ sequenceNumber: 3, sequencePage: 1 });
  });

  it('moves to each new token before the old one expires: resumes after the last item, closes the old stream only once the new one answered, drops the overlap', async () => {
    const r = subscribe();
    await r.sub.ready;
    await publishEvery(1000, 5);
    const first = topic.open[0];
    const firstToken = tokens.current!;
    // The refresh at 60 s: the new stream takes 3 s to answer, while the old
    // one keeps delivering; the new one then replays from its resume point.
    topic.plans.push({ kind: 'ok', delayMs: 3000 });
    await vi.advanceTimersByTimeAsync(60_000 - Date.now() + start);
    expect(tvm.requests).toHaveLength(2);
    expect(r.sub.status.state).toBe('refreshing');
    await publishEvery(500, 5);
    expect(first.closed).toBe(false); // not before the new one answered
    await vi.advanceTimersByTimeAsync(1000);
    const second = topic.streams[1];
    expect(second.token).toBe('tok-2');
    expect(second.req.resumeAfter?.sequenceNumber).toBeLessThan(10);
    expect(first.closed).toBe(true);
    expect(first.closedAt).toBeGreaterThanOrEqual(second.openedAt);
    expect(first.closedAt).toBeLessThan(firstToken.expiresAtMs); // moved before the old token expired
    await publishEvery(100, 3);
    expect(r.seqs).toEqual(consecutive(1, 13));
    const st = r.sub.status;
    expect(st.state).toBe('live');
    expect(st.refreshes).toBe(1);
    expect(st.reconnects).toBe(0);
    expect(st.duplicatesDropped).toBeGreaterThan(0);
    expect(st.tokenExpiresAtMs).toBe(tokens.current!.expiresAtMs);
    expect(r.errors).toEqual([]);
  });

  it('keeps refreshing: a long subscription outlives many tokens without losing or repeating an item', async () => {
    const r = subscribe();
    await r.sub.ready;
    await publishEvery(2000, 200); // 400 s: six tokens
    expect(r.sub.status.refreshes).toBeGreaterThanOrEqual(6);
    expect(r.seqs).toEqual(consecutive(1, 200));
    expect(topic.open).toHaveLength(1);
  });

  it('after a stream error, reconnects with backoff and resumes after the last item: nothing published meanwhile is lost', async () => {
    const r = subscribe();
    await r.sub.ready;
    await publishEvery(10, 3);
    topic.plans.push({ kind: 'fail', error: sdkError(new ServerUnavailableError('down')) });
    topic.open[0].fail(sdkError(new ServerUnavailableError('stream reset')));
    expect(r.sub.status.state).toBe('reconnecting');
    expect(r.sub.status.reconnects).toBe(1);
    topic.publish('during 1');
    await vi.advanceTimersByTimeAsync(0);
    topic.publish('during 2');
    // First retry fails at once; the next waits 250..500 ms (random() = 0: 250 ms).
    await vi.advanceTimersByTimeAsync(249);
    expect(topic.streams).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(topic.streams).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(10);
    expect(topic.streams[1].req.resumeAfter).toEqual({ sequenceNumber: 3, sequencePage: 1 });
    expect(r.values.slice(3)).toEqual(['during 1', 'during 2']);
    expect(r.seqs).toEqual(consecutive(1, 5));
    expect(r.sub.status.state).toBe('live');
    expect(r.errors.map(e => e.fatal)).toEqual([false, false]);
  });

  it('waits longer after each failed attempt, and starts over once live', async () => {
    const r = subscribe();
    await r.sub.ready;
    for (let i = 0; i < 4; i++) topic.plans.push({ kind: 'fail', error: sdkError(new ServerUnavailableError('down')) });
    topic.open[0].fail(sdkError(new ServerUnavailableError('x')));
    const attempts = async () => {
      const at: number[] = [];
      for (let t = 0; t < 20_000 && topic.open.length === 0; t += 10) {
        const before = topic.streams.length + topic.plans.length;
        await vi.advanceTimersByTimeAsync(10);
        if (topic.streams.length + topic.plans.length !== before) at.push(Date.now());
      }
      return at.slice(1).map((t, i) => Math.round((t - at[i]) / 50) * 50);
    };
    // 4 failures, then success: waits of 250, 500, 1000, 2000 ms (random() = 0 halves each bound).
    expect(await attempts()).toEqual([250, 500, 1000, 2000]);
    expect(topic.open).toHaveLength(1);
    // Live again: the next failure starts from the shortest wait.
    topic.plans.push({ kind: 'fail', error: sdkError(new ServerUnavailableError('down')) });
    topic.open[0].fail(sdkError(new ServerUnavailableError('x')));
    expect(await attempts()).toEqual([250]);
  });

  it('replaces a silent stream (no heartbeat) after silenceTimeoutMs, resuming after the last item', async () => {
    const r = subscribe({ silenceTimeoutMs: 12_000 });
    await r.sub.ready;
    await publishEvery(10, 2);
    const dead = topic.open[0];
    dead.muted = true; // a half-open connection: nothing arrives any more
    topic.publish('lost on the dead stream');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(topic.streams).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(5000);
    expect(dead.closed).toBe(true);
    expect(topic.open).toHaveLength(1);
    expect(r.errors[0].error).toBeInstanceOf(SilenceError);
    expect(r.errors[0].fatal).toBe(false);
    expect(r.values).toEqual(['m1', 'm2', 'lost on the dead stream']);
    expect(r.sub.status.reconnects).toBe(1);
  });

  it('does not declare a stream silent while heartbeats arrive', async () => {
    const r = subscribe({ silenceTimeoutMs: 12_000 });
    await r.sub.ready;
    await vi.advanceTimersByTimeAsync(59_000);
    expect(topic.streams).toHaveLength(1);
    expect(r.errors).toEqual([]);
  });

  it('after AUTHENTICATION_ERROR (token expired or revoked), resubscribes with a new token', async () => {
    const r = subscribe();
    await r.sub.ready;
    topic.open[0].fail(sdkError(new AuthenticationError('token expired')));
    await vi.advanceTimersByTimeAsync(10);
    expect(tvm.requests).toHaveLength(2);
    expect(topic.open[0].token).toBe('tok-2');
    expect(r.sub.status.state).toBe('live');
  });

  it('a token refused when subscribing also leads to a new token', async () => {
    topic.plans.push({ kind: 'fail', error: sdkError(new AuthenticationError('expired')) });
    const r = subscribe();
    await vi.advanceTimersByTimeAsync(1000);
    await r.sub.ready;
    expect(topic.open[0].token).toBe('tok-2');
  });

  it('PERMISSION_ERROR is fatal: reported, ready rejects, closed, no retry', async () => {
    topic.plans.push({ kind: 'fail', error: sdkError(new PermissionError('subscribe not allowed')) });
    const r = subscribe();
    const err = await r.sub.ready.catch(e => e);
    expect(err).toBeInstanceOf(TopicSubscribe.Error);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0].fatal).toBe(true);
    expect(r.sub.status.state).toBe('closed');
    await vi.advanceTimersByTimeAsync(120_000);
    expect(topic.streams).toHaveLength(0);
    expect(tvm.requests).toHaveLength(1); // no background refresh for a closed subscription
  });

  it('a 403 for the first token is fatal', async () => {
    tvm.reply({ status: 403, body: { error: 'forbidden' } });
    const r = subscribe();
    const err = await r.sub.ready.catch(e => e);
    expect(err).toBeInstanceOf(ForbiddenError);
    expect(r.errors.map(e => e.fatal)).toEqual([true]);
    expect(topic.streams).toHaveLength(0);
  });

  it('a 403 on a later refresh ends the subscription', async () => {
    const r = subscribe();
    await r.sub.ready;
    tvm.reply({ status: 403, body: { error: 'forbidden' } });
    await vi.advanceTimersByTimeAsync(61_000);
    expect(r.errors.map(e => [e.error instanceof ForbiddenError, e.fatal])).toEqual([[true, true]]);
    expect(r.sub.status.state).toBe('closed');
    expect(topic.open).toHaveLength(0);
  });

  it('a refresh that keeps failing leaves the live stream alone; the token expires and items still flow; the next token moves it', async () => {
    const r = subscribe();
    await r.sub.ready;
    // Every token request fails from now until t = 150 s (after the first token expired at 90 s).
    tvm.fallback = () => (Date.now() < start + 150_000 ? { status: 503, body: {}, headers: { 'Retry-After': '1' } } : { status: 200, body: { authToken: 'tok-late', expiresAt: Math.floor(Date.now() / 1000) + 90 } });
    await publishEvery(1000, 160);
    expect(r.seqs).toEqual(consecutive(1, 160));
    expect(r.errors.length).toBeGreaterThan(0);
    expect(r.errors.every(e => !e.fatal)).toBe(true);
    expect(topic.open).toHaveLength(1);
    expect(topic.open[0].token).toBe('tok-late');
    expect(r.sub.status.refreshes).toBe(1);
  });

  it('reconnects after a lost stream while tokens cannot be had, once the endpoint is back: nothing lost', async () => {
    const r = subscribe();
    await r.sub.ready;
    await publishEvery(10, 2);
    tvm.fallback = () => (Date.now() < start + 20_000 ? { status: 503, body: {}, headers: { 'Retry-After': '2' } } : { status: 200, body: { authToken: 'tok-back', expiresAt: Math.floor(Date.now() / 1000) + 90 } });
    tokens.invalidate(); // the current token is no good any more
    topic.open[0].fail(sdkError(new AuthenticationError('expired')));
    await publishEvery(1000, 25);
    expect(topic.open).toHaveLength(1);
    expect(topic.open[0].token).toBe('tok-back');
    expect(r.seqs).toEqual(consecutive(1, 27));
  });

  it('a new stream that times out is retried', async () => {
    const r = subscribe({ subscribeTimeoutMs: 5000 });
    await r.sub.ready;
    topic.plans.push({ kind: 'hang' });
    topic.open[0].fail(sdkError(new UnknownError('x')));
    await vi.advanceTimersByTimeAsync(4999);
    expect(topic.open).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(topic.open).toHaveLength(1);
  });

  it('reports a discontinuity and delivers what the server still has (new_topic_sequence = the number after which items resume)', async () => {
    topic = new FakeTopic(5);
    const r = subscribe();
    await r.sub.ready;
    await publishEvery(10, 2);
    topic.open[0].fail(sdkError(new ServerUnavailableError('x')));
    topic.plans.push({ kind: 'ok', delayMs: 100 });
    for (let i = 0; i < 10; i++) topic.publish(`gap ${i}`); // 3..12; the history keeps 8..12
    await vi.advanceTimersByTimeAsync(1000);
    expect(r.discontinuities).toEqual([{ lastSequenceNumber: 2, newSequenceNumber: 7, newSequencePage: 1 }]);
    expect(r.seqs).toEqual([1, 2, 8, 9, 10, 11, 12]);
    expect(r.sub.status.discontinuities).toBe(1);
    await publishEvery(10, 1);
    expect(r.seqs.at(-1)).toBe(13);
  });

  it('also delivers the item numbered new_topic_sequence, from servers that put the next number there', async () => {
    topic = new FakeTopic(5);
    topic.discontinuityStyle = 'next';
    const r = subscribe();
    await r.sub.ready;
    await publishEvery(10, 2);
    topic.open[0].fail(sdkError(new ServerUnavailableError('x')));
    topic.plans.push({ kind: 'ok', delayMs: 100 });
    for (let i = 0; i < 10; i++) topic.publish(`gap ${i}`);
    await vi.advanceTimersByTimeAsync(1000);
    expect(r.discontinuities).toEqual([{ lastSequenceNumber: 2, newSequenceNumber: 8, newSequencePage: 1 }]);
    expect(r.seqs).toEqual([1, 2, 8, 9, 10, 11, 12]);
  });

  it('reports the same discontinuity once when a reconnect meets it again', async () => {
    topic = new FakeTopic(3);
    const r = subscribe();
    await r.sub.ready;
    await publishEvery(10, 1);
    topic.open[0].fail(sdkError(new ServerUnavailableError('x')));
    topic.plans.push({ kind: 'ok', delayMs: 100 });
    for (let i = 0; i < 6; i++) topic.publish(`gap ${i}`); // 2..7, history 5..7
    await vi.advanceTimersByTimeAsync(101);
    // The replay is cut by another failure before it arrives; the next stream meets the gap again.
    topic.open[0].fail(sdkError(new ServerUnavailableError('y')));
    await vi.advanceTimersByTimeAsync(2000);
    expect(r.discontinuities).toHaveLength(1);
    expect(r.seqs).toEqual([1, 5, 6, 7]);
  });

  it('drops items delivered twice, and reports a hole no discontinuity announced', async () => {
    const r = subscribe();
    await r.sub.ready;
    const s = topic.open[0];
    for (const n of [1, 2, 2, 3, 1, 6, 7]) s.deliver(n, `v${n}`);
    expect(r.seqs).toEqual([1, 2, 3, 6, 7]);
    expect(r.sub.status.duplicatesDropped).toBe(2);
    expect(r.discontinuities).toEqual([{ lastSequenceNumber: 3, newSequenceNumber: 5, newSequencePage: 1 }]);
  });

  it('accepts items of a new sequence page (the topic was reset)', async () => {
    const r = subscribe();
    await r.sub.ready;
    const s = topic.open[0];
    s.deliver(41, 'old page');
    topic.page = 2;
    s.deliver(1, 'new page');
    expect(r.positions).toEqual([
      { sequenceNumber: 41, sequencePage: 1 },
      { sequenceNumber: 1, sequencePage: 2 },
    ]);
  });

  it('resumes after resumeAfter from the start', async () => {
    await publishEvery(10, 4);
    const r = subscribe({ resumeAfter: { sequenceNumber: 2, sequencePage: 1 } });
    await r.sub.ready;
    await vi.advanceTimersByTimeAsync(10);
    expect(topic.open[0].req.resumeAfter).toEqual({ sequenceNumber: 2, sequencePage: 1 });
    expect(r.seqs).toEqual([3, 4]);
  });

  it('close() closes the stream, stops refreshing and reconnecting, and rejects ready if not yet live', async () => {
    const r = subscribe();
    await r.sub.ready;
    r.sub.close();
    expect(topic.open).toHaveLength(0);
    expect(r.sub.status.state).toBe('closed');
    topic.publish('after close');
    await vi.advanceTimersByTimeAsync(600_000);
    expect(r.values).toEqual([]);
    expect(tvm.requests).toHaveLength(1);
    expect(topic.streams).toHaveLength(1);

    topic.plans.push({ kind: 'ok', delayMs: 1000 });
    const r2 = subscribe();
    const ready = r2.sub.ready.catch(e => e.name);
    await vi.advanceTimersByTimeAsync(10);
    r2.sub.close();
    expect(await ready).toBe('AbortError');
    await vi.advanceTimersByTimeAsync(2000);
    expect(topic.open).toHaveLength(0); // the stream that answered after close() was closed
  });

  it('status reports each state on the way', async () => {
    const r = subscribe();
    await r.sub.ready;
    topic.open[0].fail(sdkError(new ServerUnavailableError('x')));
    await vi.advanceTimersByTimeAsync(10);
    const states = r.statuses.map(s => s.state).filter((s, i, a) => s !== a[i - 1]);
    expect(states).toEqual(['connecting', 'live', 'reconnecting', 'live']);
  });

  it('several subscriptions share one token source: one refresh, each moves to the new token', async () => {
    const a = subscribe();
    const b = subscribe();
    await Promise.all([a.sub.ready, b.sub.ready]);
    expect(tvm.requests).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(61_000);
    expect(tvm.requests).toHaveLength(2);
    expect(topic.open.map((s: FakeStream) => s.token)).toEqual(['tok-2', 'tok-2']);
  });
});
