// openSdkStream against the SDK's own PubsubClient, whose network call
// (sendSubscribe) is replaced by a stub that plays the server's part
// through the SDK's callbacks. This checks that the resume point reaches
// the SDK's subscription state before the request is built, and how the
// first message, errors and timeouts settle the stream.

import { PermissionError, TopicConfigurations, TopicDiscontinuity, TopicItem, TopicSubscribe } from '@gomomento/sdk-web';
import { PubsubClient } from '@gomomento/sdk-web/dist/src/internal/pubsub-client.js';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type StreamHandlers, StreamTimeoutError, momentoCredentials, openSdkStream } from '../../src/index.js';

interface Sent {
  subscriptionState: {
    lastTopicSequenceNumber?: number;
    lastTopicSequencePage?: number;
    resumeAtTopicSequenceNumber: number;
    resumeAtTopicSequencePage: number;
    isSubscribed: boolean;
    setSubscribed(): void;
  };
  subscription: TopicSubscribe.Subscription;
  onItem(i: TopicItem): void;
  onHeartbeat(h: unknown): void;
  onDiscontinuity(d: TopicDiscontinuity): void;
  onError(e: TopicSubscribe.Error, s: TopicSubscribe.Subscription): void;
  cacheName: string;
  topicName: string;
  firstMessage: boolean;
}

let sent: Sent[];
let resolveSubscribe: ((r: TopicSubscribe.Response) => void)[];

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  vi.stubGlobal('navigator', { userAgent: 'vitest' });
  sent = [];
  resolveSubscribe = [];
  vi.spyOn(PubsubClient.prototype as unknown as { sendSubscribe(o: Sent): Promise<TopicSubscribe.Response> }, 'sendSubscribe').mockImplementation(
    (o: Sent) => {
      o.subscriptionState.setSubscribed();
      sent.push(o);
      return new Promise(r => resolveSubscribe.push(r));
    },
  );
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

const token = btoa(JSON.stringify({ api_key: 'inner', endpoint: '127.0.0.1:9999' }));

function handlers() {
  const got = { items: [] as [number, number][], heartbeats: 0, discontinuities: [] as string[], errors: [] as TopicSubscribe.Error[] };
  const h: StreamHandlers = {
    onItem: (i, page) => got.items.push([i.sequenceNumber(), page]),
    onHeartbeat: () => got.heartbeats++,
    onDiscontinuity: d => got.discontinuities.push(d.toString()),
    onError: e => got.errors.push(e),
  };
  return { got, h };
}

function open(resumeAfter: { sequenceNumber: number; sequencePage: number } | null, h: StreamHandlers, timeoutMs = 5000) {
  return openSdkStream({
    configuration: TopicConfigurations.Browser.latest(),
    credentialProvider: momentoCredentials(token),
    cacheName: 'cache',
    topicName: 'room',
    resumeAfter,
    handlers: h,
    timeoutMs,
  });
}

describe('openSdkStream', () => {
  it('sets the resume point in the SDK state before the first request: resume at last + 1 on its page', async () => {
    const { h } = handlers();
    void open({ sequenceNumber: 41, sequencePage: 7 }, h);
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toHaveLength(1);
    expect(sent[0].cacheName).toBe('cache');
    expect(sent[0].topicName).toBe('room');
    expect(sent[0].subscriptionState.resumeAtTopicSequenceNumber).toBe(42);
    expect(sent[0].subscriptionState.resumeAtTopicSequencePage).toBe(7);
  });

  it('without a resume point, subscribes from now', async () => {
    const { h } = handlers();
    void open(null, h);
    await vi.advanceTimersByTimeAsync(0);
    expect(sent[0].subscriptionState.resumeAtTopicSequenceNumber).toBe(0);
  });

  it('resolves on the first heartbeat when resuming (the SDK never resolves then) and delivers items with their page', async () => {
    const { got, h } = handlers();
    let ready = false;
    const p = open({ sequenceNumber: 41, sequencePage: 7 }, h).then(s => {
      ready = true;
      return s;
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(ready).toBe(false);
    sent[0].onHeartbeat({});
    await vi.advanceTimersByTimeAsync(0);
    expect(ready).toBe(true);
    // The SDK records the position before calling onItem.
    sent[0].subscriptionState.lastTopicSequenceNumber = 42;
    sent[0].subscriptionState.lastTopicSequencePage = 7;
    sent[0].onItem(new TopicItem('x', 42));
    sent[0].onDiscontinuity(new TopicDiscontinuity(42, 50, 7));
    expect(got.items).toEqual([[42, 7]]);
    expect(got.heartbeats).toBe(1);
    expect(got.discontinuities).toHaveLength(1);
    const s = await p;
    s.close();
    expect(sent[0].subscription.isSubscribed).toBe(false);
  });

  it('resolves when the SDK resolves with the subscription (no resume point)', async () => {
    const { h } = handlers();
    const p = open(null, h);
    await vi.advanceTimersByTimeAsync(0);
    resolveSubscribe[0](sent[0].subscription);
    await expect(p).resolves.toBeDefined();
  });

  it("rejects with the SDK's error when the first message is an error", async () => {
    const { got, h } = handlers();
    const p = open(null, h);
    await vi.advanceTimersByTimeAsync(0);
    const err = new TopicSubscribe.Error(new PermissionError('no'));
    resolveSubscribe[0](err);
    await expect(p).rejects.toBe(err);
    expect(got.errors).toEqual([]);
  });

  it('rejects when a resumed stream fails before its first message', async () => {
    const { h } = handlers();
    const p = open({ sequenceNumber: 1, sequencePage: 1 }, h);
    await vi.advanceTimersByTimeAsync(0);
    const err = new TopicSubscribe.Error(new PermissionError('no'));
    sent[0].onError(err, sent[0].subscription);
    await expect(p).rejects.toBe(err);
  });

  it('reports an error after the stream was established through onError, once, and nothing after it', async () => {
    const { got, h } = handlers();
    const p = open({ sequenceNumber: 1, sequencePage: 1 }, h);
    await vi.advanceTimersByTimeAsync(0);
    sent[0].onHeartbeat({});
    await p;
    const err = new TopicSubscribe.Error(new PermissionError('revoked'));
    sent[0].onError(err, sent[0].subscription);
    sent[0].onError(err, sent[0].subscription);
    expect(got.errors).toEqual([err]);
  });

  it('rejects with StreamTimeoutError and unsubscribes when the server does not answer', async () => {
    const { h } = handlers();
    const p = open({ sequenceNumber: 1, sequencePage: 1 }, h, 3000);
    const outcome = p.catch(e => e);
    await vi.advanceTimersByTimeAsync(2999);
    expect(sent[0].subscription.isSubscribed).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(await outcome).toBeInstanceOf(StreamTimeoutError);
    expect(sent[0].subscription.isSubscribed).toBe(false);
  });

  it('the SDK restarting its own stream keeps the state it has, not the original resume point', async () => {
    const { h } = handlers();
    const p = open({ sequenceNumber: 10, sequencePage: 1 }, h);
    await vi.advanceTimersByTimeAsync(0);
    sent[0].onHeartbeat({});
    await p;
    sent[0].subscriptionState.lastTopicSequenceNumber = 15;
    // What the SDK does on a network interruption: send again with the same options.
    // The client the stream made (the spy's `this`), as the SDK calls it.
    const spy = (PubsubClient.prototype as unknown as { sendSubscribe: { mock: { contexts: unknown[] } } }).sendSubscribe;
    const client = spy.mock.contexts[0] as { sendSubscribe(o: Sent): Promise<unknown> };
    void client.sendSubscribe(sent[0]);
    expect(sent).toHaveLength(2);
    expect(sent[1].subscriptionState.resumeAtTopicSequenceNumber).toBe(16);
  });
});
