// Browser tests of @tvmgo/token-client: the built package (dist/) in a page
// in Debian's chromium (playwright-core), against cmd/tvm with its embedded
// Momento emulator (momentolocal), configured by test/tvm.yaml (4 s tokens,
// HTTP Basic users, a per-user rate limit) and started on free loopback
// ports. Faults are injected through the emulator's admin endpoint.
//
// Run: npm test:browser (after npm ci), or `go test ./tokenclient/`.
// Logs go to ../../test-artifacts (E2E_ARTIFACTS).

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  adminSecretFrom,
  artifactsDir,
  buildPage,
  buildTvm,
  launchBrowser,
  nonce,
  openPage,
  password,
  servePage,
  startTvm,
  tempDir,
  until,
} from './lib.mjs';

let tmp;
let tvm;
let site;
let browser;
let user; // the main page
const pages = [];

before(async () => {
  tmp = tempDir();
  const [bin, pageDir] = await Promise.all([buildTvm(tmp.dir), buildPage(tmp.dir)]);
  tvm = await startTvm(bin, 'tvm');
  site = await servePage(pageDir, tvm.tokenURL);
  browser = await launchBrowser();
  user = await open();
});

after(async () => {
  for (const [i, p] of pages.entries()) {
    writeFileSync(path.join(artifactsDir, `page-${i}.console.log`), p.logs.join('\n') + '\n');
    await p.context.close().catch(() => undefined);
  }
  await browser?.close();
  await site?.close();
  await tvm?.stop();
  tmp?.cleanup();
});

afterEach(async () => {
  await tvm.admin.clearFaults();
});

async function open(options) {
  const p = await openPage(browser, site.url, options);
  pages.push(p);
  return p;
}

/** Runs fn(args) in the main page. */
function inPage(fn, args) {
  return user.page.evaluate(fn, args);
}

/** Sequence numbers are consecutive: nothing lost in between, nothing twice. */
function assertConsecutive(items, what) {
  for (let k = 1; k < items.length; k++) {
    assert.equal(items[k].seq, items[k - 1].seq + 1, `${what}: sequence ${items.map(i => i.seq).join(',')}`);
  }
}

/** Every accepted message arrived exactly once and in order, with consecutive sequence numbers. */
function assertExactlyOnce(items, accepted, what) {
  const texts = items.map(i => i.text);
  assert.deepEqual(texts.filter(t => accepted.includes(t)), accepted, `${what}: messages missing, repeated or out of order`);
  assertConsecutive(items, what);
}

const sub = id => inPage(id => window.subscriber(id), id);

describe('test helpers', () => {
  it("reads the admin secret from cmd/tvm's banner when it prints one", () => {
    assert.equal(adminSecretFrom(['tvm: emulator fault injection at http://127.0.0.1:1/admin/momentolocal/']), null);
    assert.equal(
      adminSecretFrom(['tvm: listening on http://127.0.0.1:1', 'tvm: emulator fault injection at http://127.0.0.1:1/admin/momentolocal/ (Authorization: Bearer s3cr3t-XYZ_1)']),
      's3cr3t-XYZ_1',
    );
    assert.equal(adminSecretFrom(['tvm: admin secret: "abc.DEF-9"']), 'abc.DEF-9');
    assert.equal(adminSecretFrom(['tvm: try: curl -H "Authorization: Bearer $JWT" http://x']), null, 'the curl example');
    assert.equal(adminSecretFrom(['tvm: emulator admin at http://127.0.0.1:1/admin/momentolocal/', 'tvm:   send Authorization: Bearer k3y']), 'k3y');
  });
});

describe('TokenSource against cmd/tvm', () => {
  it('fetches across origins with the caller-supplied headers, one request for many callers, and the token names the emulator', async () => {
    const r = await inPage(
      async ({ url, password, emulator }) => {
        const { tc } = window;
        const requests = [];
        const headerCalls = [];
        const s = new tc.TokenSource({
          url,
          headers: async () => {
            headerCalls.push(Date.now());
            return { Authorization: window.basic('alice', password) };
          },
          fetch: window.recordingFetch(requests),
        });
        const tokens = await Promise.all([s.get(), s.get(), s.get(), s.refresh(), s.get()]);
        const creds = tc.momentoCredentials(tokens[0]);
        s.close();
        return {
          distinct: new Set(tokens.map(t => t.authToken)).size,
          requests: requests.length,
          headerCalls: headerCalls.length,
          lifetime: tokens[0].expiresAtMs - tokens[0].receivedAtMs,
          skew: tokens[0].clockSkewMs,
          endpoint: tc.decodeToken(tokens[0].authToken)?.endpoint,
          cacheEndpoint: creds.getCacheEndpoint(),
          expected: `http://${emulator}`,
        };
      },
      { url: tvm.tokenURL, password, emulator: tvm.emulator },
    );
    assert.equal(r.requests, 1);
    assert.equal(r.headerCalls, 1);
    assert.equal(r.distinct, 1);
    assert.ok(r.lifetime > 2000 && r.lifetime <= 4000, `lifetime ${r.lifetime} ms of a 4 s token`);
    // cmd/tvm exposes Date to allowed origins (Access-Control-Expose-Headers),
    // so a cross-origin page measures the skew too: the same clock here, so
    // about zero (Date has one-second resolution).
    assert.ok(typeof r.skew === 'number' && Math.abs(r.skew) < 2000, `skew ${r.skew}: the cross-origin Date header is readable`);
    assert.equal(r.endpoint, tvm.emulator);
    assert.equal(r.cacheEndpoint, r.expected);
  });

  it('401: the re-authentication hook supplies the right credential and the request is retried once; without it, UnauthorizedError', async () => {
    const r = await inPage(
      async ({ url, password }) => {
        const { tc } = window;
        let pw = 'wrong password';
        const hooked = [];
        const requests = [];
        const s = new tc.TokenSource({
          url,
          headers: () => ({ Authorization: window.basic('alice', pw) }),
          fetch: window.recordingFetch(requests),
          onUnauthorized: e => {
            hooked.push([e.name, e.status, e instanceof tc.UnauthorizedError]);
            pw = password; // "sign in again"
            return true;
          },
        });
        const t = await s.get();
        const noHook = new tc.TokenSource({ url, headers: () => ({ Authorization: window.basic('alice', 'wrong') }) });
        const e = await noHook.get().catch(e => e);
        return {
          got: typeof t.authToken,
          hooked,
          statuses: requests.map(q => q.status),
          e: { unauthorized: e instanceof tc.UnauthorizedError, token: e instanceof tc.TokenError, forbidden: e instanceof tc.ForbiddenError, status: e.status, kind: e.kind, code: e.code },
        };
      },
      { url: tvm.tokenURL, password },
    );
    assert.equal(r.got, 'string');
    assert.deepEqual(r.hooked, [['UnauthorizedError', 401, true]]);
    assert.deepEqual(r.statuses, [401, 200]);
    assert.deepEqual(r.e, { unauthorized: true, token: true, forbidden: false, status: 401, kind: 'unauthorized', code: 'unauthorized' });
  });

  it('403: ForbiddenError, and tvm sees exactly one request', async () => {
    const before = await tvm.metric('tvm_token_requests_total', { outcome: 'forbidden' });
    const r = await inPage(
      async ({ url, password }) => {
        const { tc } = window;
        const s = new tc.TokenSource({ url, headers: () => ({ Authorization: window.basic('mallory', password) }), onUnauthorized: () => true });
        const e = await s.get().catch(e => e);
        await window.sleep(2500); // any retry would happen by now
        return { forbidden: e instanceof tc.ForbiddenError, unauthorized: e instanceof tc.UnauthorizedError, status: e.status, code: e.code, retryable: e.retryable, message: e.message };
      },
      { url: tvm.tokenURL, password },
    );
    assert.deepEqual(
      { ...r, message: undefined },
      { forbidden: true, unauthorized: false, status: 403, code: 'forbidden', retryable: false, message: undefined },
    );
    assert.match(r.message, /no scope is granted/);
    assert.equal((await tvm.metric('tvm_token_requests_total', { outcome: 'forbidden' })) - before, 1);
  });

  it("503 with Retry-After (Momento's token service failing, injected into the emulator): waits as told, then succeeds", async () => {
    await tvm.admin.addFault({ method: 'GenerateDisposableToken', code: 'UNAVAILABLE', count: 2 });
    const r = await inPage(
      async ({ url, password }) => {
        const { tc } = window;
        const requests = [];
        const retries = [];
        const s = new tc.TokenSource({ url, headers: () => ({ Authorization: window.basic('alice', password) }), fetch: window.recordingFetch(requests) });
        s.on('retry', e => retries.push({ kind: e.error.kind, status: e.error.status, retryAfterMs: e.error.retryAfterMs, delayMs: e.delayMs }));
        const t = await s.get();
        s.close();
        return { ok: typeof t.authToken === 'string', requests, retries };
      },
      { url: tvm.tokenURL, password },
    );
    assert.ok(r.ok);
    assert.deepEqual(r.requests.map(q => [q.status, q.retryAfter]), [[503, '1'], [503, '1'], [200, null]]);
    for (let k = 1; k < 3; k++) {
      const gap = r.requests[k].at - r.requests[k - 1].at;
      assert.ok(gap >= 1000 && gap < 2500, `waited ${gap} ms after a Retry-After of 1 s`);
    }
    assert.deepEqual(r.retries.map(e => [e.kind, e.status, e.retryAfterMs]), [['unavailable', 503, 1000], ['unavailable', 503, 1000]]);
  });

  it("429 with Retry-After (tvm's rate limit): waits as told, then succeeds", async () => {
    const r = await inPage(
      async ({ url, password }) => {
        const { tc } = window;
        const requests = [];
        const s = new tc.TokenSource({ url, headers: () => ({ Authorization: window.basic('greedy', password) }), fetch: window.recordingFetch(requests) });
        // Ask again and again until the rate limit says no once.
        for (let i = 0; i < 15 && !requests.some(q => q.status === 429); i++) await s.refresh();
        s.close();
        return { requests };
      },
      { url: tvm.tokenURL, password },
    );
    const i = r.requests.findIndex(q => q.status === 429);
    assert.ok(i > 0, `no 429 in ${JSON.stringify(r.requests.map(q => q.status))}`);
    assert.equal(r.requests[i].retryAfter, '1');
    assert.ok(r.requests[i + 1], 'the refused request was retried');
    const gap = r.requests[i + 1].at - r.requests[i].at;
    assert.ok(gap >= 1000 && gap < 2500, `waited ${gap} ms after a Retry-After of 1 s`);
    assert.equal(r.requests.at(-1).status, 200);
  });

  it('clock skew: a page whose clock is 10 minutes behind gets the real lifetime from the Date header (same origin) and refreshes on time', async () => {
    const skewed = await open({ clockOffsetMs: -600_000 });
    const topic = `skew-${nonce()}`;
    await skewed.page.evaluate(
      ({ url, password, topic }) => window.startSubscriber('skew', { url, user: 'alice', password, topic }),
      { url: `${site.url}/same-origin/token`, password, topic },
    );
    const first = await skewed.page.evaluate(() => window.subscriber('skew'));
    assert.ok(Math.abs(first.token.clockSkewMs - 600_000) <= 1500, `skew ${first.token.clockSkewMs}`);
    const lifetime = first.token.expiresAtMs - first.token.receivedAtMs;
    assert.ok(lifetime > 1500 && lifetime <= 4000, `lifetime ${lifetime} ms on the page's clock`);
    // Refreshed ahead of expiry, token after token.
    await until(async () => (await skewed.page.evaluate(() => window.subscriber('skew'))).status.refreshes >= 2, 'two refreshes', 15_000);
    const s = await skewed.page.evaluate(() => window.subscriber('skew'));
    assert.equal(s.errors.length, 0, JSON.stringify(s.errors));
    await skewed.page.evaluate(() => window.stopSubscriber('skew'));
  });
});

describe('RefreshingTopicSubscription against cmd/tvm and the emulator', () => {
  const publish = (id, topic, everyMs = 200) =>
    inPage(({ id, url, password, topic, everyMs }) => window.startPublisher(id, { url, user: 'publisher', password, topic, everyMs, prefix: id }), {
      id,
      url: tvm.tokenURL,
      password,
      topic,
      everyMs,
    });
  const subscribe = (id, topic, extra = {}) =>
    inPage(({ id, url, password, topic, extra }) => window.startSubscriber(id, { url, user: 'alice', password, topic, ...extra }), {
      id,
      url: tvm.tokenURL,
      password,
      topic,
      extra,
    });
  const stopPublishing = id => inPage(id => window.stopPublisher(id), id);
  const published = id => inPage(id => window.publisherState(id), id);
  /** Waits until the subscriber has every message the publisher got accepted, and returns both. */
  async function drain(subID, pubID) {
    const { accepted } = await stopPublishing(pubID);
    const s = await until(async () => {
      const s = await sub(subID);
      return accepted.every(t => s.items.some(i => i.text === t)) && s;
    }, `every accepted message at ${subID}`, 30_000);
    return { s, accepted };
  }

  it('outlives its 4 s tokens: moves to each new token before expiry, every message once, in order', async () => {
    const topic = `refresh-${nonce()}`;
    await subscribe('refresh', topic);
    const t0 = (await sub('refresh')).token;
    await publish('refresh-pub', topic, 150);
    await new Promise(r => setTimeout(r, 12_000));
    const { s, accepted } = await drain('refresh', 'refresh-pub');
    assert.ok(accepted.length >= 40, `only ${accepted.length} messages accepted`);
    assertExactlyOnce(s.items, accepted, 'refresh');
    assert.ok(s.status.refreshes >= 3, `refreshed ${s.status.refreshes} times in 12 s`);
    assert.equal(s.status.reconnects, 0);
    assert.notEqual(s.token.authToken, t0.authToken);
    assert.ok(s.token.expiresAt > t0.expiresAt + 6);
    assert.deepEqual(s.errors, []);
    // What Momento's token service was asked for: alice's tokens, one every few seconds.
    const alice = (await tvm.admin.tokenRequests()).filter(q => q.tokenId === 'alice');
    assert.ok(alice.length >= 4);
    await inPage(() => window.stopSubscriber('refresh'));
  });

  it('a dropped connection: resumes after the last sequence number, nothing lost or repeated', async () => {
    const topic = `drop-${nonce()}`;
    await subscribe('drop', topic);
    await publish('drop-pub', topic, 100);
    for (let i = 0; i < 3; i++) {
      await new Promise(r => setTimeout(r, 1500));
      const closed = await tvm.admin.closeConnections();
      assert.ok(closed.closed >= 1, `closed ${JSON.stringify(closed)}`);
    }
    await new Promise(r => setTimeout(r, 1500));
    const { s, accepted } = await drain('drop', 'drop-pub');
    assert.ok(accepted.length >= 20, `only ${accepted.length} messages accepted`);
    assertExactlyOnce(s.items, accepted, 'drop');
    assert.equal(s.errors.filter(e => e.fatal).length, 0, JSON.stringify(s.errors));
    await inPage(() => window.stopSubscriber('drop'));
  });

  it('the token expires while tvm cannot vend (503), then the connection drops: recovers once tvm is back, nothing lost', async () => {
    const topic = `expiry-${nonce()}`;
    await subscribe('expiry', topic, { backoffMaxMs: 1000 });
    await publish('expiry-pub', topic, 150);
    // The publisher has its (1 h) token before tvm stops vending.
    await until(async () => (await published('expiry-pub')).accepted.length >= 2, 'the first messages');
    // From now on every token request fails (503 + Retry-After).
    await tvm.admin.addFault({ method: 'GenerateDisposableToken', code: 'UNAVAILABLE', fraction: 1 });
    const before = (await sub('expiry')).items.length;
    const expired = await until(async () => {
      const s = await sub('expiry');
      return s.now > s.status.tokenExpiresAtMs + 1000 && s;
    }, 'the subscription token to expire', 15_000);
    // The stream opened with the now expired token still delivers.
    await until(async () => (await sub('expiry')).items.length > expired.items.length, 'an item after expiry', 5000);
    assert.ok(expired.items.length > before);
    assert.ok(expired.requests.some(q => q.status === 503), 'the refresh was refused');
    // The connection drops: the stream must be made again, which needs a token.
    await tvm.admin.closeConnections();
    await new Promise(r => setTimeout(r, 3000));
    const during = await sub('expiry');
    assert.notEqual(during.status.state, 'live', `state ${during.status.state}`);
    await tvm.admin.clearFaults();
    await until(async () => (await sub('expiry')).status.state === 'live', 'live again', 20_000);
    await new Promise(r => setTimeout(r, 1000));
    const { s, accepted } = await drain('expiry', 'expiry-pub');
    assertExactlyOnce(s.items, accepted, 'expiry');
    assert.ok(s.status.reconnects >= 1);
    assert.ok(s.token.expiresAtMs > s.now, 'a new token');
    assert.equal(s.errors.filter(e => e.fatal).length, 0, JSON.stringify(s.errors));
    assert.ok(s.errors.some(e => e.code === 'unavailable' || e.code === 'AUTHENTICATION_ERROR'), JSON.stringify(s.errors));
    await inPage(() => window.stopSubscriber('expiry'));
  });

  it('reports a discontinuity when the emulator no longer has the missed messages, and delivers every one it still has', async () => {
    const topic = `gap-${nonce()}`;
    await subscribe('gap', topic, { backoffMaxMs: 500 });
    await publish('gap-warmup', topic, 20);
    await until(async () => (await sub('gap')).items.length >= 3, 'first items');
    const warm = (await stopPublishing('gap-warmup')).accepted;
    const seen = (await until(async () => {
      const s = await sub('gap');
      return s.items.at(-1)?.text === warm.at(-1) && s;
    }, 'the warm-up messages')).items.at(-1).seq;
    // Cut the subscriber off: its stream drops and cannot be made again.
    await tvm.admin.addFault({ method: 'Subscribe', code: 'UNAVAILABLE', fraction: 1 });
    await tvm.admin.closeConnections();
    // More than the emulator keeps per topic (256).
    const { accepted, failed } = await inPage(
      async ({ url, password, topic }) => {
        const { tc } = window;
        const pub = new tc.TopicPublisher({ tokens: new tc.TokenSource({ url, headers: () => ({ Authorization: window.basic('publisher', password) }) }) });
        const accepted = [];
        const failed = [];
        for (let i = 0; i < 300; i++) {
          const r = await pub.publish('default-cache', topic, `gap ${i}`).catch(() => null);
          (r instanceof window.TopicPublish.Success ? accepted : failed).push(`gap ${i}`);
        }
        return { accepted, failed };
      },
      { url: tvm.tokenURL, password, topic },
    );
    assert.equal(accepted.length, 300, `failed: ${failed.join(', ')}`);
    const last = seen + 300;
    await tvm.admin.clearFaults();
    const s = await until(async () => {
      const s = await sub('gap');
      return s.items.at(-1)?.seq === last && s;
    }, 'the last message', 30_000).catch(async e => {
      const s = await sub('gap');
      throw new Error(`${e.message}: ${JSON.stringify({ status: s.status, discontinuities: s.discontinuities, tail: s.items.slice(-3), errors: s.errors.slice(-3), seen, last })}`);
    });
    assert.equal(s.discontinuities.length, 1, JSON.stringify(s.discontinuities));
    const d = s.discontinuities[0];
    assert.equal(d.lastSequenceNumber, seen);
    const after = s.items.filter(i => i.seq > seen);
    // The emulator keeps the last 256: every one of them arrived, once, in order.
    assert.equal(after[0].seq, last - 255, `resumed at ${after[0].seq}, discontinuity ${JSON.stringify(d)}`);
    assert.equal(after.length, 256);
    assertConsecutive(after, 'gap');
    assert.deepEqual(after.map(i => i.text), accepted.slice(-256));
    assert.ok(d.newSequenceNumber === after[0].seq || d.newSequenceNumber === after[0].seq - 1, JSON.stringify(d));
    await inPage(() => window.stopSubscriber('gap'));
  });
});
