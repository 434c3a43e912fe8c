// Node tests of momentolocal through the official Node SDK (@gomomento/sdk,
// native gRPC). Run from the Go test TestNodeSDK, which starts an emulator
// and passes its address and root api key in the environment:
//   MOMENTOLOCAL_ADDR      127.0.0.1:PORT
//   MOMENTOLOCAL_ROOT_KEY  the emulator's root api key
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
  GenerateDisposableToken,
  TopicPublish,
  TopicSubscribe,
  CacheGet,
  CacheSet,
  CacheIncrement,
  MomentoErrorCode,
  NoopMomentoLoggerFactory,
} = require('@gomomento/sdk');

const addr = process.env.MOMENTOLOCAL_ADDR;
const rootKey = process.env.MOMENTOLOCAL_ROOT_KEY;
const cache = 'default-cache';
if (!addr || !rootKey) {
  throw new Error('MOMENTOLOCAL_ADDR and MOMENTOLOCAL_ROOT_KEY must be set (run from go test)');
}
const endpointOverrides = {
  cacheEndpoint: addr,
  controlEndpoint: addr,
  tokenEndpoint: addr,
  secureConnection: false,
};
const loggerFactory = new NoopMomentoLoggerFactory();

const clients = [];
function track(c) {
  clients.push(c);
  return c;
}
test.after(() => {
  for (const c of clients) if (typeof c.close === 'function') c.close();
});

// vend returns the SDK-wrapped disposable token the Node auth client gets.
async function vend(scope, tokenId) {
  const auth = track(
    new AuthClient({
      configuration: AuthClientConfigurations.Default.latest(loggerFactory),
      credentialProvider: CredentialProvider.fromString({ apiKey: rootKey, endpointOverrides }),
    }),
  );
  const resp = await auth.generateDisposableToken(scope, ExpiresIn.minutes(10), tokenId ? { tokenId } : undefined);
  assert.ok(resp instanceof GenerateDisposableToken.Success, `vend failed: ${resp}`);
  assert.equal(resp.endpoint, addr);
  return resp.authToken;
}

function creds(token) {
  return CredentialProvider.fromDisposableToken({ apiKey: token, endpointOverrides });
}

function topicClient(token) {
  return track(
    new TopicClient({ configuration: TopicConfigurations.Default.latest(loggerFactory), credentialProvider: creds(token) }),
  );
}

async function cacheClient(token) {
  return track(
    await CacheClient.create({
      configuration: Configurations.Laptop.latest(loggerFactory),
      credentialProvider: creds(token),
      defaultTtlSeconds: 60,
    }),
  );
}

// subscribe resolves items into a queue; next() waits for the next one.
async function subscribe(client, topic, options = {}) {
  const items = [];
  const waiters = [];
  const resp = await client.subscribe(cache, topic, {
    ...options,
    onItem: item => {
      const w = waiters.shift();
      if (w) w(item);
      else items.push(item);
    },
    onError: err => {
      throw new Error(`subscription error: ${err}`);
    },
  });
  return {
    resp,
    next: () =>
      items.length
        ? Promise.resolve(items.shift())
        : new Promise((resolve, reject) => {
            waiters.push(resolve);
            setTimeout(() => reject(new Error('timed out waiting for an item')), 10000).unref();
          }),
  };
}

test('publish and subscribe with disposable tokens; publisher id is the token id', async () => {
  const alice = topicClient(await vend(DisposableTokenScopes.topicPublishSubscribe(cache, AllTopics), 'node-alice'));
  const bob = topicClient(await vend(DisposableTokenScopes.topicSubscribeOnly(AllCaches, 'node-chat'), 'node-bob'));
  const sub = await subscribe(bob, 'node-chat');
  assert.ok(sub.resp instanceof TopicSubscribe.Subscription, `subscribe failed: ${sub.resp}`);
  try {
    for (const text of ['hello', 'world']) {
      const pub = await alice.publish(cache, 'node-chat', text);
      assert.ok(pub instanceof TopicPublish.Success, `publish failed: ${pub}`);
    }
    const first = await sub.next();
    assert.equal(first.valueString(), 'hello');
    assert.equal(first.tokenId(), 'node-alice');
    assert.equal(first.sequenceNumber(), 1);
    const second = await sub.next();
    assert.equal(second.valueString(), 'world');
    assert.equal(second.sequenceNumber(), 2);
  } finally {
    sub.resp.unsubscribe();
  }
});

test('a subscribe-only token cannot publish', async () => {
  const c = topicClient(await vend(DisposableTokenScopes.topicSubscribeOnly(cache, AllTopics), 'node-reader'));
  const pub = await c.publish(cache, 'node-chat', 'nope');
  assert.ok(pub instanceof TopicPublish.Error, `publish should fail: ${pub}`);
  assert.equal(pub.errorCode(), MomentoErrorCode.PERMISSION_ERROR);
});

test('a publish-only token cannot subscribe', async () => {
  const c = topicClient(await vend(DisposableTokenScopes.topicPublishOnly(cache, AllTopics), 'node-writer'));
  const resp = await c.subscribe(cache, 'node-chat', { onItem: () => {}, onError: () => {} });
  assert.ok(resp instanceof TopicSubscribe.Error, `subscribe should fail: ${resp}`);
  assert.equal(resp.errorCode(), MomentoErrorCode.PERMISSION_ERROR);
});

test('a key-prefix token reads its prefix and nothing else', async () => {
  const writer = await cacheClient(await vend(DisposableTokenScopes.cacheKeyPrefixReadWrite(cache, 'alice/'), 'node-w'));
  const reader = await cacheClient(await vend(DisposableTokenScopes.cacheKeyPrefixReadOnly(cache, 'alice/'), 'node-r'));
  assert.ok((await writer.set(cache, 'alice/profile', 'v1')) instanceof CacheSet.Success);
  const hit = await reader.get(cache, 'alice/profile');
  assert.ok(hit instanceof CacheGet.Hit, `get should hit: ${hit}`);
  assert.equal(hit.valueString(), 'v1');
  const other = await reader.get(cache, 'bob/profile');
  assert.ok(other instanceof CacheGet.Error, `get outside the prefix should fail: ${other}`);
  assert.equal(other.errorCode(), MomentoErrorCode.PERMISSION_ERROR);
  const write = await reader.set(cache, 'alice/profile', 'v2');
  assert.ok(write instanceof CacheSet.Error);
  assert.equal(write.errorCode(), MomentoErrorCode.PERMISSION_ERROR);
});

test('increment keeps a shared counter', async () => {
  const c = await cacheClient(await vend(DisposableTokenScopes.cacheKeyReadWrite(AllCaches, 'node-counter'), 'node-c'));
  let last;
  for (let i = 0; i < 3; i++) {
    last = await c.increment(cache, 'node-counter', 2);
    assert.ok(last instanceof CacheIncrement.Success, `increment failed: ${last}`);
  }
  assert.equal(last.value(), 6);
});

test('an unknown cache is NOT_FOUND and a forged token is refused', async () => {
  const c = topicClient(await vend(DisposableTokenScopes.topicPublishSubscribe(AllCaches, AllTopics), 'node-any'));
  const pub = await c.publish('no-such-cache', 't', 'x');
  assert.ok(pub instanceof TopicPublish.Error);
  assert.equal(pub.errorCode(), MomentoErrorCode.CACHE_NOT_FOUND_ERROR);

  const forged = Buffer.from(JSON.stringify({ api_key: 'eyJhbGciOiJIUzI1NiJ9.e30.forged', endpoint: addr })).toString('base64');
  const f = topicClient(forged);
  const denied = await f.publish(cache, 't', 'x');
  assert.ok(denied instanceof TopicPublish.Error);
  assert.equal(denied.errorCode(), MomentoErrorCode.AUTHENTICATION_ERROR);
});
