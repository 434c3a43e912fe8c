// The page the browser tests drive: it exposes the built package (dist/,
// exactly what is published) and a few helpers on window; the tests run
// their scenarios with page.evaluate.

import * as tc from '../../../dist/index.js';
import { TopicPublish } from '@gomomento/sdk-web';

interface RecordedRequest {
  at: number;
  status: number;
  retryAfter: string | null;
}

interface Subscriber {
  items: { seq: number; page: number; text: string }[];
  discontinuities: tc.Discontinuity[];
  errors: { name: string; message: string; code?: string; fatal: boolean }[];
  status: tc.SubscriptionStatus | null;
  requests: RecordedRequest[];
  tokens: tc.TokenSource;
  sub: tc.RefreshingTopicSubscription;
}

interface Publisher {
  accepted: string[];
  failed: string[];
  running: boolean;
  done: Promise<void>;
}

const basic = (user: string, password: string) => `Basic ${btoa(`${user}:${password}`)}`;

/** A fetch that records the time, status and Retry-After of each request in `into`. */
const recordingFetch =
  (into: RecordedRequest[]): typeof fetch =>
  async (input, init) => {
    const at = Date.now();
    try {
      const r = await fetch(input, init);
      into.push({ at, status: r.status, retryAfter: r.headers.get('Retry-After') });
      return r;
    } catch (e) {
      into.push({ at, status: 0, retryAfter: null });
      throw e;
    }
  };

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

function describeError(e: unknown, fatal: boolean): Subscriber['errors'][number] {
  const o = e as { name?: string; message?: unknown; errorCode?: () => string; kind?: string };
  const message = typeof o.message === 'function' ? String((o.message as () => string)()) : String(o.message ?? e);
  return { name: o.name ?? typeof e, message, code: o.errorCode?.() ?? o.kind, fatal };
}

const subscribers: Record<string, Subscriber> = {};
const publishers: Record<string, Publisher> = {};

/** Subscribes `user` to `topic` with tokens from `url`; resolves once live. */
async function startSubscriber(
  id: string,
  o: { url: string; user: string; password: string; topic: string; backoffMaxMs?: number },
): Promise<void> {
  const requests: RecordedRequest[] = [];
  const tokens = new tc.TokenSource({
    url: o.url,
    headers: () => ({ Authorization: basic(o.user, o.password) }),
    fetch: recordingFetch(requests),
  });
  const s = { items: [], discontinuities: [], errors: [], status: null, requests, tokens } as unknown as Subscriber;
  s.sub = tc.subscribeTopic({
    tokens,
    cacheName: 'default-cache',
    topicName: o.topic,
    backoff: o.backoffMaxMs ? { initialDelayMs: Math.min(500, o.backoffMaxMs), maxDelayMs: o.backoffMaxMs } : undefined,
    onItem: (item, pos) => s.items.push({ seq: pos.sequenceNumber, page: pos.sequencePage, text: item.valueString() }),
    onDiscontinuity: d => s.discontinuities.push(d),
    onError: (e, fatal) => {
      s.errors.push(describeError(e, fatal));
      console.warn(`subscriber ${id}: ${fatal ? 'fatal' : 'retrying'}: ${describeError(e, fatal).message}`);
    },
    onStatus: st => (s.status = st),
  });
  subscribers[id] = s;
  await s.sub.ready;
}

/** What a subscriber saw so far, with this page's clock. */
function subscriber(id: string) {
  const s = subscribers[id];
  return {
    items: s.items,
    discontinuities: s.discontinuities,
    errors: s.errors,
    status: s.status,
    requests: s.requests,
    token: s.tokens.current,
    now: Date.now(),
  };
}

function stopSubscriber(id: string): void {
  subscribers[id].sub.close();
  subscribers[id].tokens.close();
}

/** Publishes "<prefix> <n>" to `topic` every `everyMs` until stopped; remembers what Momento accepted. */
function startPublisher(id: string, o: { url: string; user: string; password: string; topic: string; everyMs: number; prefix: string }): void {
  const tokens = new tc.TokenSource({ url: o.url, headers: () => ({ Authorization: basic(o.user, o.password) }) });
  const pub = new tc.TopicPublisher({ tokens });
  const p = { accepted: [], failed: [], running: true } as unknown as Publisher;
  p.done = (async () => {
    for (let n = 0; p.running; n++) {
      const text = `${o.prefix} ${n}`;
      try {
        const r = await pub.publish('default-cache', o.topic, text);
        (r instanceof TopicPublish.Success ? p.accepted : p.failed).push(text);
      } catch {
        p.failed.push(text);
      }
      await sleep(o.everyMs);
    }
    tokens.close();
  })();
  publishers[id] = p;
}

async function stopPublisher(id: string): Promise<{ accepted: string[]; failed: string[] }> {
  const p = publishers[id];
  p.running = false;
  await p.done;
  return { accepted: p.accepted, failed: p.failed };
}

function publisherState(id: string): { accepted: string[]; failed: string[] } {
  return { accepted: publishers[id].accepted, failed: publishers[id].failed };
}

Object.assign(window, {
  tc,
  basic,
  recordingFetch,
  sleep,
  startSubscriber,
  subscriber,
  stopSubscriber,
  startPublisher,
  stopPublisher,
  publisherState,
  TopicPublish,
});
document.getElementById('status')!.textContent = 'ready';
