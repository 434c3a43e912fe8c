import { describe, expect, it } from 'vitest';
import { decodeToken, isLoopbackEndpoint, momentoCredentials, type Token } from '../../src/index.js';

/** A vended token as the Momento SDKs build it: base64 of {"api_key","endpoint"}. */
function vended(endpoint: string, apiKey = 'inner-key'): string {
  return btoa(JSON.stringify({ api_key: apiKey, endpoint }));
}

describe('decodeToken', () => {
  it('reads api_key and endpoint from standard and URL-safe base64, padded or not', () => {
    const std = vended('127.0.0.1:9090', 'k+/?');
    expect(decodeToken(std)).toEqual({ apiKey: 'k+/?', endpoint: '127.0.0.1:9090' });
    const urlSafe = std.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    expect(decodeToken(urlSafe)).toEqual({ apiKey: 'k+/?', endpoint: '127.0.0.1:9090' });
  });

  it('returns null for anything else', () => {
    for (const t of ['', 'not base64!', btoa('not json'), btoa('[1]'), btoa('{"api_key":"k"}'), btoa('{"api_key":1,"endpoint":"e"}'), btoa('{"api_key":"k","endpoint":""}'), 'eyJhbGciOiJIUzI1NiJ9.eyJjIjoiYyJ9.sig']) {
      expect(decodeToken(t), t).toBeNull();
    }
  });
});

describe('isLoopbackEndpoint', () => {
  it.each([
    ['127.0.0.1:9090', true],
    ['127.0.0.1', true],
    ['127.1.2.3:1', true],
    ['localhost:9090', true],
    ['LOCALHOST', true],
    ['app.localhost:80', true],
    ['[::1]:9090', true],
    ['::1', true],
    ['http://127.0.0.1:9090', true],
    ['http://[::1]:9090/', true],
    ['cell-4-us-west-2-1.prod.a.momentohq.com', false],
    ['cell-4-us-west-2-1.prod.a.momentohq.com:443', false],
    ['128.0.0.1:9090', false],
    ['127.0.0.1.example.com', false],
    ['localhost.example.com', false],
    ['10.0.0.1:9090', false],
    ['[::2]:9090', false],
    ['[', false],
  ])('%s → %s', (ep, want) => {
    expect(isLoopbackEndpoint(ep)).toBe(want);
  });
});

describe('momentoCredentials', () => {
  it('points cache, control and token calls at http://<endpoint> when the token names a loopback endpoint', () => {
    const c = momentoCredentials(vended('127.0.0.1:9090'));
    expect(c.getAuthToken()).toBe('inner-key');
    expect(c.areEndpointsOverridden()).toBe(true);
    expect([c.getCacheEndpoint(), c.getControlEndpoint(), c.getTokenEndpoint()]).toEqual([
      'http://127.0.0.1:9090',
      'http://127.0.0.1:9090',
      'http://127.0.0.1:9090',
    ]);
  });

  it("leaves Momento's own endpoints alone otherwise", () => {
    const c = momentoCredentials(vended('cell-1.prod.a.momentohq.com'));
    expect(c.areEndpointsOverridden()).toBe(false);
    expect(c.getCacheEndpoint()).toBe('cache.cell-1.prod.a.momentohq.com');
    expect(c.isEndpointSecure()).toBe(true);
  });

  it('uses an explicit endpoint for every call, and accepts a Token object', () => {
    const token: Token = {
      authToken: vended('cell-1.prod.a.momentohq.com'),
      expiresAt: 0,
      receivedAtMs: 0,
      expiresAtMs: 0,
      refreshAtMs: 0,
      clockSkewMs: null,
    };
    const c = momentoCredentials(token, { endpoint: 'http://127.0.0.1:7000' });
    expect([c.getCacheEndpoint(), c.getControlEndpoint(), c.getTokenEndpoint()]).toEqual([
      'http://127.0.0.1:7000',
      'http://127.0.0.1:7000',
      'http://127.0.0.1:7000',
    ]);
    expect(c.getAuthToken()).toBe('inner-key');
  });
});
