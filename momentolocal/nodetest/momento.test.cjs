// Node tests of momentolocal behaving as Momento does, judged by what the
// official Node SDK (@gomomento/sdk) expects. Run from the Go test
// TestNodeSDKMomentoBehaviour, which starts the emulators and a control
// server and passes them in the environment:
//   MOMENTOLOCAL_ADDR            127.0.0.1:PORT of the main emulator
//   MOMENTOLOCAL_ROOT_KEY        its root api key (v1 shape)
//   MOMENTOLOCAL_CONTROL         http://127.0.0.1:PORT of the Go test's control
//                                server (POST /restart, /stall-subscribe, /quota-advance)
//   MOMENTOLOCAL_QUOTA_ADDR      an emulator with TokenQuota 3 and a frozen clock
//   MOMENTOLOCAL_QUOTA_ROOT_KEY  its root api key
//   MOMENTOLOCAL_TLS_ENDPOINT    momentolocal.test:PORT, an emulator serving TLS
//                                whose Config.Endpoint it is (only when host
//                                names resolve: the Go test runs node in a
//                                mount namespace with its own /etc/hosts)
//   MOMENTOLOCAL_TLS_ROOT_KEY_V2 its root api key in v2 shape
//   MOMENTOLOCAL_TLS_ROOT_KEY    its root api key in v1 shape
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const {
  AuthClient,
  CacheClient,
  TopicClient,
  Configurations,
  TopicConfigurations,
  AuthClientConfigurations,
  CredentialProvider,
  DisposableTokenScopes,
  ExpiresIn,
  AllCaches,
  AllTopics,
  CacheRole,
  TopicRole,
  GenerateDisposableToken,
  TopicPublish,
  TopicSubscribe,
  CacheGet,
  CacheSet,
  CacheGetBatch,
  CacheSetBatch,
  CacheKeysExist,
  CacheKeyExists,
  CacheItemGetTtl,
  CacheUpdateTtl,
  CacheIncreaseTtl,
  CacheDecreaseTtl,
  CacheSetIfAbsent,
  CacheSetIfPresent,
  CacheSetIfEqual,
  CacheSetIfNotEqual,
  CacheSetIfPresentAndNotEqual,
  CacheSetIfAbsentOrEqual,
  CacheFlush,
  CacheDictionaryFetch,
  CreateCache,
  DeleteCache,
  ListCaches,
  MomentoErrorCode,
  NoopMomentoLoggerFactory,
} = require('@gomomento/sdk');

const env = name => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} must be set (run from go test)`);
  return v;
};
const addr = env('MOMENTOLOCAL_ADDR');
const rootKey = env('MOMENTOLOCAL_ROOT_KEY');
const control = env('MOMENTOLOCAL_CONTROL');
const cache = 'default-cache';
const loggerFactory = new NoopMomentoLoggerFactory();
const overrides = a => ({ cacheEndpoint: a, controlEndpoint: a, tokenEndpoint: a, secureConnection: false });

const clients = [];
function track(c) {
  clients.push(c);
  return c;
}
test.after(() => {
  for (const c of clients) if (typeof c.close === 'function') c.close();
});

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

// waitFor polls cond until it holds or timeoutMs passes.
async function waitFor(what, cond, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function post(path) {
  const resp = await fetch(control + path, { method: 'POST' });
  assert.equal(resp.status, 204, `control ${path}: ${resp.status} ${await resp.text()}`);
}

function authClient(key, a = addr) {
  return track(
    new AuthClient({
      configuration: AuthClientConfigurations.Default.latest(loggerFactory),
      credentialProvider: CredentialProvider.fromString({ apiKey: key, endpointOverrides: overrides(a) }),
    }),
  );
}

async function vend(scope, tokenId, expiresIn = ExpiresIn.minutes(10)) {
  const resp = await authClient(rootKey).generateDisposableToken(scope, expiresIn, tokenId ? { tokenId } : undefined);
  assert.ok(resp instanceof GenerateDisposableToken.Success, `vend failed: ${resp}`);
  return resp.authToken;
}

function topicClient(token, a = addr) {
  return track(
    new TopicClient({
      configuration: TopicConfigurations.Default.latest(loggerFactory),
      credentialProvider: CredentialProvider.fromDisposableToken({ apiKey: token, endpointOverrides: overrides(a) }),
    }),
  );
}

// publishOK publishes, retrying while the connection is being re-made.
async function publishOK(client, topic, value) {
  let last;
  for (let i = 0; i < 20; i++) {
    last = await client.publish(cache, topic, value);
    if (last instanceof TopicPublish.Success) return;
    await sleep(100);
  }
  assert.fail(`publish ${value} failed: ${last}`);
}

// Both JS SDKs (src/internal/pubsub-client.ts) store a discontinuity's
// new_topic_sequence as their last seen sequence number and resume at that
// number + 1 (SubscriptionState.resumeAtTopicSequenceNumber). If the
// emulator put the next number it delivers there, a subscriber that
// reconnects right after a discontinuity would skip that message.
test('a subscriber that resumes right after a discontinuity misses no message', async () => {
  const token = await vend(DisposableTokenScopes.topicPublishSubscribe(cache, AllTopics), 'node-resume');
  const publisher = topicClient(token);
  const subscriber = topicClient(token);
  const events = [];
  const sub = await subscriber.subscribe(cache, 'resume', {
    onItem: item => events.push({ item: item.valueString(), seq: item.sequenceNumber() }),
    onDiscontinuity: d => events.push({ discontinuity: true, last: d.lastSequenceNumber(), next: d.newSequenceNumber() }),
    onError: err => events.push({ error: `${err}` }),
  });
  assert.ok(sub instanceof TopicSubscribe.Subscription, `subscribe failed: ${sub}`);
  try {
    await publishOK(publisher, 'resume', 'before');
    await waitFor('the first item', () => events.some(e => e.item === 'before'));

    // An outage: the emulator restarts with a new sequence page and no
    // history. The SDK resubscribes on its own and is told of the new page
    // by a discontinuity, with nothing to replay yet.
    await post('/restart');
    await waitFor('a discontinuity after the restart', () => events.some(e => e.discontinuity));
    const disc = events.find(e => e.discontinuity);
    assert.equal(disc.last, 1);

    // The connection drops again; the SDK's resubscription is held back
    // while a message is published, so it must be replayed.
    await post('/stall-subscribe');
    await publishOK(publisher, 'resume', 'during');
    // If "during" was skipped, publish another message so that the test
    // shows what arrived instead.
    const nudge = setTimeout(() => publishOK(publisher, 'resume', 'after').catch(() => {}), 4000);
    try {
      await waitFor('an item after the discontinuity', () => events.slice(events.indexOf(disc) + 1).some(e => e.item));
    } finally {
      clearTimeout(nudge);
    }
    const next = events.slice(events.indexOf(disc) + 1).find(e => e.item);
    assert.deepEqual(next, { item: 'during', seq: 1 }, `events: ${JSON.stringify(events)}`);
    assert.ok(!events.some(e => e.error), `events: ${JSON.stringify(events)}`);
  } finally {
    sub.unsubscribe();
  }
});

function creds(token, a = addr) {
  return CredentialProvider.fromDisposableToken({ apiKey: token, endpointOverrides: overrides(a) });
}

async function cacheClient(credentialProvider) {
  return track(
    await CacheClient.create({
      configuration: Configurations.Laptop.latest(loggerFactory),
      credentialProvider,
      defaultTtlSeconds: 60,
    }),
  );
}

function rootCreds(key = rootKey, a = addr) {
  return CredentialProvider.fromString({ apiKey: key, endpointOverrides: overrides(a) });
}

// errMetadata returns the "err" metadata of an error response, as the
// Node SDK's error mapper reads it (src/errors/cache-service-error-mapper.ts).
function errMetadata(resp) {
  const md = resp.innerException().transportDetails().grpc.metadata;
  return md && typeof md.get === 'function' ? md.get('err')[0] : undefined;
}

function assertError(resp, code, what) {
  assert.equal(typeof resp.errorCode, 'function', `${what}: expected an error, got ${resp}`);
  assert.equal(resp.errorCode(), code, `${what}: ${resp}`);
}

const onlyTopics = DisposableTokenScopes.topicSubscribeOnly(AllCaches, AllTopics);

// Token service limits (public-dev-docs docs/platform/limits/auth.mdx):
// TTL at most 25 hours. Unlike client-sdk-go v1.38.0, the Node SDK sends
// expiries over an hour (packages/core/src/internal/utils/validators.ts,
// validateDisposableTokenExpiry only checks that it expires).
test('token service: 25 hours accepted, 25 hours and 1 second refused', async () => {
  const auth = authClient(rootKey);
  const ok = await auth.generateDisposableToken(onlyTopics, ExpiresIn.hours(25), { tokenId: 'node-25h' });
  assert.ok(ok instanceof GenerateDisposableToken.Success, `25 h: ${ok}`);
  assert.ok(Math.abs(ok.expiresAt.epoch() - (Date.now() / 1000 + 25 * 3600)) < 5);
  const over = await auth.generateDisposableToken(onlyTopics, ExpiresIn.seconds(25 * 3600 + 1), { tokenId: 'node-25h1s' });
  assertError(over, MomentoErrorCode.INVALID_ARGUMENT_ERROR, '25 h + 1 s');
});

// Duplicate or conflicting permissions (the same selector twice, whatever
// the roles) are INVALID_ARGUMENT (packages/common-integration-tests/src/
// auth/auth-client.ts, "cannot create token with duplicate/conflicting ...").
test('token service: duplicate or conflicting permissions are refused', async () => {
  const auth = authClient(rootKey);
  for (const [name, permissions] of [
    ['all caches twice', [{ role: CacheRole.ReadOnly, cache: AllCaches }, { role: CacheRole.ReadWrite, cache: AllCaches }]],
    ['cache by name twice', [{ role: CacheRole.ReadOnly, cache: 'i-am-groot' }, { role: CacheRole.ReadWrite, cache: { name: 'i-am-groot' } }]],
    ['cache and topic twice', [
      { role: TopicRole.SubscribeOnly, cache: 'i-am-groot', topic: 'rocket-raccoon' },
      { role: TopicRole.PublishSubscribe, cache: { name: 'i-am-groot' }, topic: { name: 'rocket-raccoon' } },
    ]],
  ]) {
    const resp = await auth.generateDisposableToken({ permissions }, ExpiresIn.minutes(1));
    assertError(resp, MomentoErrorCode.INVALID_ARGUMENT_ERROR, name);
  }
});

test('token service: at most 20 permissions', async () => {
  const auth = authClient(rootKey);
  const perms = n => Array.from({ length: n }, (_, i) => ({ role: TopicRole.SubscribeOnly, cache: AllCaches, topic: `t${i}` }));
  const twenty = await auth.generateDisposableToken({ permissions: perms(20) }, ExpiresIn.minutes(1));
  assert.ok(twenty instanceof GenerateDisposableToken.Success, `20: ${twenty}`);
  const more = await auth.generateDisposableToken({ permissions: perms(21) }, ExpiresIn.minutes(1));
  assertError(more, MomentoErrorCode.INVALID_ARGUMENT_ERROR, '21 permissions');
});

// The Node SDK counts a token id's length in UTF-16 code units
// (validateDisposableTokenTokenID: tokenId.length > 64); the emulator
// counts the same way, so what the SDK lets through is accepted.
test('token service: token id length counted in UTF-16 code units', async () => {
  const auth = authClient(rootKey);
  const ok = await auth.generateDisposableToken(onlyTopics, ExpiresIn.minutes(1), { tokenId: 'é'.repeat(64) });
  assert.ok(ok instanceof GenerateDisposableToken.Success, `64 é (128 bytes): ${ok}`);
  const emoji = await auth.generateDisposableToken(onlyTopics, ExpiresIn.minutes(1), { tokenId: '😀'.repeat(33) });
  assertError(emoji, MomentoErrorCode.INVALID_ARGUMENT_ERROR, '33 emoji, 66 code units (refused by the SDK)');
});

// A disposable token cannot create tokens; it is data-plane only.
test('token service: a disposable token gets PERMISSION_DENIED', async () => {
  const token = await vend(DisposableTokenScopes.cacheReadWrite(AllCaches), 'node-disposable');
  const auth = track(
    new AuthClient({
      configuration: AuthClientConfigurations.Default.latest(loggerFactory),
      credentialProvider: creds(token),
    }),
  );
  const resp = await auth.generateDisposableToken(onlyTopics, ExpiresIn.minutes(1));
  assertError(resp, MomentoErrorCode.PERMISSION_ERROR, 'vend with a disposable token');
});

// Momento's auth quota (5 operations per second per account, hard):
// several clients share it; over it, RESOURCE_EXHAUSTED with
// "err: operations_rate_limit_exceeded", which the SDK reports as
// LIMIT_EXCEEDED_ERROR "Request rate limit exceeded for this account"
// (packages/core/src/errors/errors.ts). The quota emulator allows 3 per
// second and its clock only moves on POST /quota-advance.
test('token quota: shared by every client, LIMIT_EXCEEDED with the metadata the SDK reads', async () => {
  const quotaAddr = env('MOMENTOLOCAL_QUOTA_ADDR');
  const quotaKey = env('MOMENTOLOCAL_QUOTA_ROOT_KEY');
  const clientsA = [authClient(quotaKey, quotaAddr), authClient(quotaKey, quotaAddr), authClient(quotaKey, quotaAddr)];
  const round = async tag =>
    Promise.all(
      [0, 1].flatMap(j => clientsA.map((c, i) => c.generateDisposableToken(onlyTopics, ExpiresIn.minutes(1), { tokenId: `${tag}-${i}-${j}` }))),
    );
  for (const tag of ['first', 'second']) {
    const results = await round(tag);
    const ok = results.filter(r => r instanceof GenerateDisposableToken.Success);
    const limited = results.filter(r => r instanceof GenerateDisposableToken.Error);
    assert.equal(ok.length, 3, `${tag} second: ${results.map(String)}`);
    assert.equal(limited.length, 3);
    for (const r of limited) {
      assertError(r, MomentoErrorCode.LIMIT_EXCEEDED_ERROR, 'over the quota');
      assert.equal(errMetadata(r), 'operations_rate_limit_exceeded');
      assert.match(r.message(), /^Request rate limit exceeded for this account/);
    }
    await post('/quota-advance');
  }
});

// Topics: a message is at most 4 KB (docs/topics/limits.mdx).
test('topics: a payload over 4 KB is LIMIT_EXCEEDED', async () => {
  const c = topicClient(await vend(DisposableTokenScopes.topicPublishSubscribe(cache, AllTopics), 'node-big'));
  assert.ok((await c.publish(cache, 'big', 'x'.repeat(4096))) instanceof TopicPublish.Success);
  const resp = await c.publish(cache, 'big', 'x'.repeat(4097));
  assertError(resp, MomentoErrorCode.LIMIT_EXCEEDED_ERROR, '4097 bytes');
  assert.equal(errMetadata(resp), 'request_size_limit_exceeded');
  assert.match(resp.message(), /^Request size limit exceeded for this account/);
});

// Cache limits: TTL at most 24 h (ListCaches: max_ttl_seconds 86400),
// items at most 5 MB (err: item_size_limit_exceeded), and a request over
// 5 MiB is refused as the Node SDK's own test expects
// (packages/client-sdk-nodejs/test/integration/cache/large-messages.test.ts:
// 5,300,000 bytes -> RESOURCE_EXHAUSTED, "Request size limit exceeded for
// this account").
test('cache: TTL and size limits', async () => {
  const c = await cacheClient(rootCreds());
  assert.ok((await c.set(cache, 'k', 'v', { ttl: 86400 })) instanceof CacheSet.Success);
  assertError(await c.set(cache, 'k', 'v', { ttl: 86401 }), MomentoErrorCode.INVALID_ARGUMENT_ERROR, 'TTL over 24 h');
  assert.ok((await c.set(cache, 'b', 'x'.repeat(5_000_000 - 1))) instanceof CacheSet.Success, '5 MB item');
  const item = await c.set(cache, 'b', 'x'.repeat(5_000_000));
  assertError(item, MomentoErrorCode.LIMIT_EXCEEDED_ERROR, 'item over 5 MB');
  assert.equal(errMetadata(item), 'item_size_limit_exceeded');
  assert.match(item.message(), /^Item size limit exceeded for this account/);
  const request = await c.set(cache, 'b', 'x'.repeat(5_300_000));
  assert.ok(request instanceof CacheSet.Error);
  assert.ok(request.toString().includes('RESOURCE_EXHAUSTED'), request.toString());
  assert.ok(request.toString().includes('Request size limit exceeded for this account'), request.toString());
});

// The cache methods the emulator serves, as the Node SDK sends them
// (src/internal/cache-data-client.ts: every setIf* is a SetIf request).
test('cache: batches, existence, TTLs, SetIf family and ping', async () => {
  const c = await cacheClient(rootCreds());
  await c.ping(); // no credentials needed (src/internal/ping-client.ts sends none)
  assert.ok((await c.setBatch(cache, { a: '1', b: '2' }, { ttl: 60 })) instanceof CacheSetBatch.Success);
  const gb = await c.getBatch(cache, ['a', 'missing', 'b']);
  assert.ok(gb instanceof CacheGetBatch.Success, `${gb}`);
  assert.deepEqual(gb.values(), { a: '1', b: '2' });
  assert.ok(gb.results()[1] instanceof CacheGet.Miss);
  assert.deepEqual((await c.keysExist(cache, ['b', 'missing', 'a'])).exists(), [true, false, true]);
  assert.equal((await c.keyExists(cache, 'missing')).exists(), false);

  const ttl = await c.itemGetTtl(cache, 'a');
  assert.ok(ttl instanceof CacheItemGetTtl.Hit, `${ttl}`);
  assert.ok(ttl.remainingTtlMillis() > 55000 && ttl.remainingTtlMillis() <= 60000, `${ttl.remainingTtlMillis()}`);
  assert.ok((await c.itemGetTtl(cache, 'missing')) instanceof CacheItemGetTtl.Miss);
  assert.ok((await c.increaseTtl(cache, 'a', 1000)) instanceof CacheIncreaseTtl.NotSet);
  assert.ok((await c.increaseTtl(cache, 'a', 120000)) instanceof CacheIncreaseTtl.Set);
  assert.ok((await c.decreaseTtl(cache, 'a', 300000)) instanceof CacheDecreaseTtl.NotSet);
  assert.ok((await c.decreaseTtl(cache, 'a', 30000)) instanceof CacheDecreaseTtl.Set);
  assert.ok((await c.updateTtl(cache, 'a', 90000)) instanceof CacheUpdateTtl.Set);
  assert.ok((await c.updateTtl(cache, 'missing', 90000)) instanceof CacheUpdateTtl.Miss);
  assert.ok((await c.itemGetTtl(cache, 'a')).remainingTtlMillis() > 85000);

  assert.ok((await c.setIfAbsent(cache, 'sif', 'v')) instanceof CacheSetIfAbsent.Stored);
  assert.ok((await c.setIfAbsent(cache, 'sif', 'w')) instanceof CacheSetIfAbsent.NotStored);
  assert.ok((await c.setIfPresent(cache, 'sif-missing', 'v')) instanceof CacheSetIfPresent.NotStored);
  assert.ok((await c.setIfEqual(cache, 'sif', 'w', 'other')) instanceof CacheSetIfEqual.NotStored);
  assert.ok((await c.setIfEqual(cache, 'sif', 'w', 'v')) instanceof CacheSetIfEqual.Stored);
  assert.ok((await c.setIfNotEqual(cache, 'sif', 'x', 'w')) instanceof CacheSetIfNotEqual.NotStored);
  assert.ok((await c.setIfNotEqual(cache, 'sif-new', 'x', 'w')) instanceof CacheSetIfNotEqual.Stored, 'absent counts as not equal');
  assert.ok((await c.setIfPresentAndNotEqual(cache, 'sif', 'y', 'v')) instanceof CacheSetIfPresentAndNotEqual.Stored);
  assert.ok((await c.setIfAbsentOrEqual(cache, 'sif', 'z', 'v')) instanceof CacheSetIfAbsentOrEqual.NotStored);
  assert.ok((await c.setIfAbsentOrEqual(cache, 'sif', 'z', 'y')) instanceof CacheSetIfAbsentOrEqual.Stored);
  assert.equal((await c.get(cache, 'sif')).valueString(), 'z');
});

test('cache: role and key checks of the added methods', async () => {
  const ro = await cacheClient(creds(await vend(DisposableTokenScopes.cacheKeyPrefixReadOnly(cache, 'ro/'), 'node-ro')));
  assert.ok((await ro.getBatch(cache, ['ro/a', 'ro/b'])) instanceof CacheGetBatch.Success);
  assertError(await ro.getBatch(cache, ['ro/a', 'other']), MomentoErrorCode.PERMISSION_ERROR, 'getBatch outside the prefix');
  assertError(await ro.keysExist(cache, ['other']), MomentoErrorCode.PERMISSION_ERROR, 'keysExist outside the prefix');
  assertError(await ro.setIfAbsent(cache, 'ro/a', 'v'), MomentoErrorCode.PERMISSION_ERROR, 'setIfAbsent with a read-only token');
  assertError(await ro.setBatch(cache, { 'ro/a': 'v' }), MomentoErrorCode.PERMISSION_ERROR, 'setBatch with a read-only token');
  assertError(await ro.updateTtl(cache, 'ro/a', 1000), MomentoErrorCode.PERMISSION_ERROR, 'updateTtl with a read-only token');
  assert.ok((await ro.itemGetTtl(cache, 'ro/a')) instanceof CacheItemGetTtl.Miss);
});

// Control plane: for api keys; disposable tokens are data-plane only
// (public-dev-docs docs/platform/authentication/tokens.md).
// create-delete-list-cache.ts (common-integration-tests): deleting or
// flushing a missing cache is CACHE_NOT_FOUND_ERROR, creating an existing
// one CreateCache.AlreadyExists; ListCaches reports the limits.
test('control plane: create, list, flush, delete; refused to disposable tokens', async () => {
  const c = await cacheClient(rootCreds());
  assert.ok((await c.createCache('node-made')) instanceof CreateCache.Success);
  assert.ok((await c.createCache('node-made')) instanceof CreateCache.AlreadyExists);
  const list = await c.listCaches();
  assert.ok(list instanceof ListCaches.Success, `${list}`);
  const made = list.getCaches().find(ci => ci.getName() === 'node-made');
  assert.ok(made);
  assert.equal(made.getCacheLimits().maxItemSizeKb, 4883);
  assert.equal(made.getCacheLimits().maxTtlSeconds, 86400);
  assert.equal(made.getTopicLimits().maxPublishMessageSizeKb, 4);
  assert.ok((await c.set('node-made', 'k', 'v')) instanceof CacheSet.Success);
  assert.ok((await c.flushCache('node-made')) instanceof CacheFlush.Success);
  assert.ok((await c.get('node-made', 'k')) instanceof CacheGet.Miss, 'flushed');
  assertError(await c.flushCache('no-such-cache'), MomentoErrorCode.CACHE_NOT_FOUND_ERROR, 'flush a missing cache');
  assertError(await c.deleteCache('no-such-cache'), MomentoErrorCode.CACHE_NOT_FOUND_ERROR, 'delete a missing cache');

  const d = await cacheClient(creds(await vend(DisposableTokenScopes.cacheReadWrite(AllCaches), 'node-data')));
  assertError(await d.listCaches(), MomentoErrorCode.PERMISSION_ERROR, 'listCaches with a disposable token');
  assertError(await d.createCache('by-token'), MomentoErrorCode.PERMISSION_ERROR, 'createCache with a disposable token');
  assertError(await d.flushCache('node-made'), MomentoErrorCode.PERMISSION_ERROR, 'flushCache with a disposable token');
  assertError(await d.deleteCache('node-made'), MomentoErrorCode.PERMISSION_ERROR, 'deleteCache with a disposable token');

  // Deleting a cache ends its subscriptions with CACHE_NOT_FOUND_ERROR
  // (common-integration-tests src/topics/topic-client.ts, "should
  // unsubscribe automatically if the cache is deleted mid-subscription").
  const topics = topicClient(await vend(DisposableTokenScopes.topicPublishSubscribe(AllCaches, AllTopics), 'node-gone'));
  let gone;
  const sub = await topics.subscribe('node-made', 't', { onItem: () => {}, onError: (err, s) => (gone = { err, s }) });
  assert.ok(sub instanceof TopicSubscribe.Subscription, `${sub}`);
  assert.ok((await c.deleteCache('node-made')) instanceof DeleteCache.Success);
  await waitFor('the subscription to end', () => gone);
  assert.equal(gone.err.errorCode(), MomentoErrorCode.CACHE_NOT_FOUND_ERROR);
  assert.equal(gone.s.isSubscribed, false);
});

test('a method the emulator does not serve is UNIMPLEMENTED, naming it', async () => {
  const c = await cacheClient(rootCreds());
  const resp = await c.dictionaryFetch(cache, 'd');
  assert.ok(resp instanceof CacheDictionaryFetch.Error, `${resp}`);
  assertError(resp, MomentoErrorCode.BAD_REQUEST_ERROR, 'dictionaryFetch');
  assert.match(resp.message(), /\/cache_client\.Scs\/DictionaryFetch/);
});

// v2 api keys: the SDK tells the shapes apart (packages/core/src/internal/
// utils/auth.ts isV2ApiKey: claim t === 'g').
test('v2 root key: the SDK accepts it only through fromApiKeyV2', () => {
  const v1 = rootKey;
  assert.throws(() => CredentialProvider.fromApiKeyV2({ apiKey: v1, endpoint: 'momentolocal.test' }), /invalid v2 API key/);
  const v2 = process.env.MOMENTOLOCAL_TLS_ROOT_KEY_V2;
  if (v2) {
    assert.throws(() => CredentialProvider.fromString({ apiKey: v2 }), /v2 API key/);
  }
});

// fromApiKeyV2({apiKey, endpoint}) dials cache.<endpoint>, control.<endpoint>
// and token.<endpoint> over TLS with no override possible
// (packages/core/src/auth/credential-provider.ts, ApiKeyV2TokenProvider), so
// the names must resolve and the certificate must be trusted: the Go test
// gives node its own /etc/hosts and NODE_EXTRA_CA_CERTS. A disposable token
// then carries the emulator's Config.Endpoint and works with no overrides
// either, as with Momento.
test('v2 root key with fromApiKeyV2 over TLS and host names', { skip: !process.env.MOMENTOLOCAL_TLS_ENDPOINT && 'no host names (see the Go test)' }, async () => {
  const endpoint = env('MOMENTOLOCAL_TLS_ENDPOINT');
  const v2 = CredentialProvider.fromApiKeyV2({ apiKey: env('MOMENTOLOCAL_TLS_ROOT_KEY_V2'), endpoint });
  assert.equal(v2.getCacheEndpoint(), `cache.${endpoint}`);
  assert.equal(v2.isEndpointSecure(), true);
  const auth = track(new AuthClient({ configuration: AuthClientConfigurations.Default.latest(loggerFactory), credentialProvider: v2 }));
  const tok = await auth.generateDisposableToken(DisposableTokenScopes.topicPublishSubscribe(cache, AllTopics), ExpiresIn.minutes(5), { tokenId: 'node-v2' });
  assert.ok(tok instanceof GenerateDisposableToken.Success, `vend with a v2 key over TLS: ${tok}`);
  assert.equal(tok.endpoint, endpoint);

  const root = await cacheClient(v2);
  const list = await root.listCaches();
  assert.ok(list instanceof ListCaches.Success, `control.${endpoint}: ${list}`);

  const plain = CredentialProvider.fromDisposableToken({ apiKey: tok.authToken }); // no overrides: cache.<endpoint>, TLS
  const topics = track(new TopicClient({ configuration: TopicConfigurations.Default.latest(loggerFactory), credentialProvider: plain }));
  const got = [];
  const sub = await topics.subscribe(cache, 'v2', { onItem: i => got.push(i), onError: () => {} });
  assert.ok(sub instanceof TopicSubscribe.Subscription, `subscribe over TLS: ${sub}`);
  try {
    assert.ok((await topics.publish(cache, 'v2', 'over tls')) instanceof TopicPublish.Success);
    await waitFor('the item', () => got.length > 0);
    assert.equal(got[0].valueString(), 'over tls');
    assert.equal(got[0].tokenId(), 'node-v2');
  } finally {
    sub.unsubscribe();
  }
  // The v1 root key still works against the same emulator.
  const v1 = await cacheClient(CredentialProvider.fromString({ apiKey: env('MOMENTOLOCAL_TLS_ROOT_KEY'), endpointOverrides: {
    cacheEndpoint: `cache.${endpoint}`, controlEndpoint: `control.${endpoint}`, tokenEndpoint: `token.${endpoint}`, secureConnection: true } }));
  assert.ok((await v1.listCaches()) instanceof ListCaches.Success);
});
