// Node tests of momentolocal's gRPC-Web endpoint behaving as Momento does,
// through the official browser SDK, @gomomento/sdk-web, with xhr2 standing
// in for the browser (as in web.test.cjs). Run from the Go test
// TestNodeSDKMomentoBehaviour:
//   MOMENTOLOCAL_WEB_URL         http://127.0.0.1:PORT of a plain emulator
//   MOMENTOLOCAL_WEB_ROOT_KEY    its root api key
//   MOMENTOLOCAL_TLS_ENDPOINT    momentolocal.test:PORT, an emulator serving TLS
//                                (only when host names resolve)
//   MOMENTOLOCAL_TLS_ROOT_KEY_V2 its root api key in v2 shape
//   NODE_EXTRA_CA_CERTS          the test CA, trusted by Node's https (xhr2)
'use strict';

require('./browser-xhr.cjs'); // before the SDK, which must find the browser globals

const test = require('node:test');
const assert = require('node:assert/strict');
const {
  AuthClient,
  CacheClient,
  TopicClient,
  Configurations,
  TopicConfigurations,
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
  CacheSetBatch,
  CacheGetBatch,
  CacheSetIfAbsent,
  CacheItemGetTtl,
  CacheDictionaryFetch,
  ListCaches,
  MomentoErrorCode,
  NoopMomentoLoggerFactory,
} = require('@gomomento/sdk-web');

const env = name => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} must be set (run from go test)`);
  return v;
};
const base = env('MOMENTOLOCAL_WEB_URL');
const rootKey = env('MOMENTOLOCAL_WEB_ROOT_KEY');
const cache = 'default-cache';
const endpointOverrides = { cacheEndpoint: base, controlEndpoint: base, tokenEndpoint: base };
const loggerFactory = new NoopMomentoLoggerFactory();
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

function assertError(resp, code, what) {
  assert.equal(typeof resp.errorCode, 'function', `${what}: expected an error, got ${resp}`);
  assert.equal(resp.errorCode(), code, `${what}: ${resp}`);
}

// errMetadata returns the "err" metadata as the web SDK's error mapper
// reads it (client-sdk-web src/errors/cache-service-error-mapper.ts:
// meta['err']), from the gRPC-Web trailers.
function errMetadata(resp) {
  const md = resp.innerException().transportDetails().grpc.metadata;
  return md ? md.err : undefined;
}

function auth(credentialProvider) {
  return new AuthClient({ credentialProvider });
}

async function vend(scope, tokenId, expiresIn = ExpiresIn.minutes(10)) {
  const resp = await auth(CredentialProvider.fromString({ apiKey: rootKey, endpointOverrides })).generateDisposableToken(
    scope,
    expiresIn,
    tokenId ? { tokenId } : undefined,
  );
  assert.ok(resp instanceof GenerateDisposableToken.Success, `vend over gRPC-Web failed: ${resp}`);
  return resp.authToken;
}

function cacheClient(credentialProvider) {
  return new CacheClient({ configuration: Configurations.Browser.latest(loggerFactory), credentialProvider, defaultTtlSeconds: 60 });
}

function topicClient(credentialProvider) {
  return new TopicClient({ configuration: TopicConfigurations.Default.latest(loggerFactory), credentialProvider });
}

const disposable = token => CredentialProvider.fromDisposableToken({ apiKey: token, endpointOverrides });

test('gRPC-Web: 25 hour tokens, over 25 hours refused', async () => {
  const a = auth(CredentialProvider.fromString({ apiKey: rootKey, endpointOverrides }));
  const scope = DisposableTokenScopes.topicSubscribeOnly(AllCaches, AllTopics);
  assert.ok((await a.generateDisposableToken(scope, ExpiresIn.hours(25))) instanceof GenerateDisposableToken.Success);
  assertError(await a.generateDisposableToken(scope, ExpiresIn.seconds(25 * 3600 + 1)), MomentoErrorCode.INVALID_ARGUMENT_ERROR, '25 h + 1 s');
});

test('gRPC-Web: limits carry the err metadata the web SDK reads', async () => {
  const topics = topicClient(disposable(await vend(DisposableTokenScopes.topicPublishSubscribe(cache, AllTopics), 'web-big')));
  const pub = await topics.publish(cache, 'big', 'x'.repeat(4097));
  assertError(pub, MomentoErrorCode.LIMIT_EXCEEDED_ERROR, 'topic payload over 4 KB');
  assert.equal(errMetadata(pub), 'request_size_limit_exceeded');
  assert.match(pub.message(), /^Request size limit exceeded for this account/);

  // (The web SDK cannot send a 5 MB item from Node: its base64 encoding
  // overflows the call stack, so the item size limit is checked by the
  // Node SDK test.)
  const c = cacheClient(CredentialProvider.fromString({ apiKey: rootKey, endpointOverrides }));
  assertError(await c.set(cache, 'k', 'v', { ttl: 86401 }), MomentoErrorCode.INVALID_ARGUMENT_ERROR, 'TTL over 24 h');
});

test('gRPC-Web: batches (server streams), SetIf, ItemGetTtl; control plane refused to disposable tokens', async () => {
  const c = cacheClient(disposable(await vend(DisposableTokenScopes.cacheKeyPrefixReadWrite(cache, 'web/'), 'web-batch')));
  assert.ok((await c.setBatch(cache, { 'web/a': '1', 'web/b': '2' })) instanceof CacheSetBatch.Success);
  const gb = await c.getBatch(cache, ['web/a', 'web/missing', 'web/b']);
  assert.ok(gb instanceof CacheGetBatch.Success, `${gb}`);
  assert.deepEqual(gb.values(), { 'web/a': '1', 'web/b': '2' });
  assert.ok((await c.setIfAbsent(cache, 'web/a', 'x')) instanceof CacheSetIfAbsent.NotStored);
  assert.ok((await c.itemGetTtl(cache, 'web/a')) instanceof CacheItemGetTtl.Hit);
  assertError(await c.getBatch(cache, ['web/a', 'other']), MomentoErrorCode.PERMISSION_ERROR, 'getBatch outside the prefix');
  assertError(await c.listCaches(), MomentoErrorCode.PERMISSION_ERROR, 'listCaches with a disposable token');

  const root = cacheClient(CredentialProvider.fromString({ apiKey: rootKey, endpointOverrides }));
  assert.ok((await root.listCaches()) instanceof ListCaches.Success);
  const dict = await root.dictionaryFetch(cache, 'd');
  assert.ok(dict instanceof CacheDictionaryFetch.Error, `${dict}`);
  assertError(dict, MomentoErrorCode.BAD_REQUEST_ERROR, 'dictionaryFetch');
  assert.match(dict.message(), /\/cache_client\.Scs\/DictionaryFetch/);
});

// With a v2 key and no overrides, the web SDK dials
// https://web.token.<endpoint>, https://web.cache.<endpoint> and so on
// (client-sdk-web src/utils/web-client-utils.ts).
test('gRPC-Web: v2 root key with fromApiKeyV2 over TLS and host names', { skip: !process.env.MOMENTOLOCAL_TLS_ENDPOINT && 'no host names (see the Go test)' }, async () => {
  const endpoint = env('MOMENTOLOCAL_TLS_ENDPOINT');
  const v2 = CredentialProvider.fromApiKeyV2({ apiKey: env('MOMENTOLOCAL_TLS_ROOT_KEY_V2'), endpoint });
  const tok = await auth(v2).generateDisposableToken(DisposableTokenScopes.topicPublishSubscribe(cache, AllTopics), ExpiresIn.minutes(5), { tokenId: 'web-v2' });
  assert.ok(tok instanceof GenerateDisposableToken.Success, `vend with a v2 key over https: ${tok}`);
  const plain = CredentialProvider.fromDisposableToken({ apiKey: tok.authToken }); // no overrides
  const topics = topicClient(plain);
  const got = [];
  const sub = await topics.subscribe(cache, 'web-v2', { onItem: i => got.push(i), onError: () => {} });
  assert.ok(sub instanceof TopicSubscribe.Subscription, `${sub}`);
  try {
    assert.ok((await topics.publish(cache, 'web-v2', 'over https')) instanceof TopicPublish.Success);
    for (let i = 0; i < 500 && got.length === 0; i++) await sleep(20);
    assert.equal(got[0]?.valueString(), 'over https');
    assert.equal(got[0].tokenId(), 'web-v2');
  } finally {
    sub.unsubscribe();
  }
  const root = cacheClient(v2);
  assert.ok((await root.set(cache, 'k', 'v')) instanceof CacheSet.Success);
  assert.equal((await root.get(cache, 'k')).valueString(), 'v');
  assert.ok((await root.get(cache, 'missing')) instanceof CacheGet.Miss);
});
