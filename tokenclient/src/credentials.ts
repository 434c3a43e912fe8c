// Momento credential providers built from vended tokens.

import { CredentialProvider } from '@gomomento/sdk-web';
import type { Token } from './token-source.js';

/** What a vended token names: the inner API key and the Momento endpoint. */
export interface TokenContents {
  apiKey: string;
  /** A host or host:port, e.g. "cell-1-us-west-2-1.prod.a.momentohq.com" or "127.0.0.1:9090". */
  endpoint: string;
}

/**
 * Reads a vended token (base64 of JSON `{"api_key", "endpoint"}`, as the
 * Momento SDKs build it). Returns null for any other shape.
 */
export function decodeToken(authToken: string): TokenContents | null {
  let json: string;
  try {
    const b64 = authToken.trim().replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    json = new TextDecoder().decode(Uint8Array.from(bin, c => c.charCodeAt(0)));
  } catch {
    return null;
  }
  try {
    const v: unknown = JSON.parse(json);
    if (typeof v !== 'object' || v === null) return null;
    const o = v as Record<string, unknown>;
    if (typeof o.api_key !== 'string' || typeof o.endpoint !== 'string' || o.endpoint === '') return null;
    return { apiKey: o.api_key, endpoint: o.endpoint };
  } catch {
    return null;
  }
}

/** Whether an endpoint (host, host:port or [v6]:port) is on this machine's loopback interface. */
export function isLoopbackEndpoint(endpoint: string): boolean {
  let host = endpoint.trim().toLowerCase().replace(/^[a-z][a-z0-9+.-]*:\/\//, '').split('/')[0];
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    host = end > 0 ? host.slice(1, end) : '';
  } else if (host.split(':').length === 2) {
    host = host.split(':')[0];
  }
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export interface CredentialOptions {
  /**
   * Base URL of the Momento gRPC-Web endpoint, e.g. "http://127.0.0.1:9090",
   * used for cache, control and token calls. Default: the endpoint the
   * token names, as "http://host:port" when it is a loopback address (a
   * local emulator such as tvm's momentolocal), else Momento's own.
   */
  endpoint?: string;
}

/**
 * A credential provider for `@gomomento/sdk-web` from a vended token.
 * Momento clients read it when they are created: make new clients when the
 * token changes (RefreshingTopicSubscription and TopicPublisher do).
 */
export function momentoCredentials(token: Token | string, options: CredentialOptions = {}): CredentialProvider {
  const authToken = typeof token === 'string' ? token : token.authToken;
  const base = options.endpoint || localEndpoint(authToken);
  if (!base) return CredentialProvider.fromDisposableToken({ apiKey: authToken });
  return CredentialProvider.fromDisposableToken({
    apiKey: authToken,
    endpointOverrides: { cacheEndpoint: base, controlEndpoint: base, tokenEndpoint: base },
  });
}

/** "http://<endpoint>" when the token names a loopback endpoint, else "". */
function localEndpoint(authToken: string): string {
  const c = decodeToken(authToken);
  if (!c || !isLoopbackEndpoint(c.endpoint)) return '';
  return /^https?:\/\//i.test(c.endpoint) ? c.endpoint : `http://${c.endpoint}`;
}
