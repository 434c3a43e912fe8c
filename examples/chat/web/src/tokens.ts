// Fetching Momento tokens from the token vending machine.

/** A vended token, as the vending machine returns it. */
export interface VendedToken {
  authToken: string;
  /** Unix seconds. */
  expiresAt: number;
}

/** A refusal from the vending machine, with its HTTP status and error code. */
export class TokenError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

/**
 * Asks the vending machine for a token covering only `topic` (the resolver
 * intersects this with what the user's groups allow). The ID token goes in
 * the Authorization header; nothing else the page sends can widen the scope.
 */
export async function fetchToken(tokenUrl: string, idToken: string, topic: string): Promise<VendedToken> {
  const url = new URL(tokenUrl, location.href);
  url.searchParams.set('topic', topic);
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { Authorization: `Bearer ${idToken}` },
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (e) {
    throw new TokenError(`token vending machine unreachable: ${String(e)}`, 0, 'network');
  }
  const body = (await res.json().catch(() => ({}))) as Partial<VendedToken> & { error?: string; message?: string };
  if (!res.ok) {
    throw new TokenError(body.message ?? `token request failed (HTTP ${res.status})`, res.status, body.error ?? 'http');
  }
  if (typeof body.authToken !== 'string' || typeof body.expiresAt !== 'number') {
    throw new TokenError('token response is missing authToken or expiresAt', res.status, 'bad_response');
  }
  return { authToken: body.authToken, expiresAt: body.expiresAt };
}

/**
 * When to refresh a token that expires at expiresAtSec: a third of its
 * lifetime before expiry, at most a minute before, and never sooner than one
 * second from now.
 */
export function refreshDelayMs(expiresAtSec: number, nowMs = Date.now()): number {
  const lifetime = expiresAtSec * 1000 - nowMs;
  const margin = Math.min(60_000, lifetime / 3);
  return Math.max(1000, lifetime - margin);
}
