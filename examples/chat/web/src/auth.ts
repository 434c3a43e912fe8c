// Sign-in. The UI obtains an ID token (a JWT) from the identity provider and
// sends it to the token vending machine as "Authorization: Bearer". The
// vending machine verifies it; the claims read here are only for display.

import type { AuthConfig } from './config';

/** A signed-in user. */
export interface Session {
  idToken: string;
  /** Display name from the token (never trusted by the server). */
  username: string;
  groups: string[];
  /** Unix milliseconds when the ID token expires. */
  expiresAtMs: number;
}

const storageKey = 'tvm-chat-session';

/** Decodes a JWT's payload without verifying it (display only). */
export function decodeClaims(jwt: string): Record<string, unknown> {
  const parts = jwt.split('.');
  if (parts.length !== 3) throw new Error('not a JWT');
  const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
  const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
  const json = new TextDecoder().decode(Uint8Array.from(atob(padded), c => c.charCodeAt(0)));
  const claims: unknown = JSON.parse(json);
  if (typeof claims !== 'object' || claims === null) throw new Error('JWT payload is not an object');
  return claims as Record<string, unknown>;
}

export function sessionFromIdToken(idToken: string): Session {
  const c = decodeClaims(idToken);
  const groups = Array.isArray(c['cognito:groups']) ? c['cognito:groups'].map(String) : [];
  const username = String(c['cognito:username'] ?? c['preferred_username'] ?? c['sub'] ?? '?');
  const exp = typeof c.exp === 'number' ? c.exp * 1000 : Date.now() + 3600_000;
  return { idToken, username, groups, expiresAtMs: exp };
}

/** The session saved in this tab, if still valid for at least a minute. */
export function restoreSession(): Session | null {
  try {
    const t = sessionStorage.getItem(storageKey);
    if (!t) return null;
    const s = sessionFromIdToken(t);
    return s.expiresAtMs - Date.now() > 60_000 ? s : null;
  } catch {
    return null;
  }
}

export function saveSession(s: Session | null): void {
  if (s) sessionStorage.setItem(storageKey, s.idToken);
  else sessionStorage.removeItem(storageKey);
}

/** Signs in with a username and password and returns the session. */
export async function signIn(cfg: AuthConfig, username: string, password: string): Promise<Session> {
  if (cfg.type === 'demo') {
    const url = new URL('idp/token', new URL(cfg.url || './', location.href));
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    const body = (await res.json().catch(() => ({}))) as { idToken?: string; message?: string };
    if (!res.ok || !body.idToken) throw new Error(body.message ?? `sign-in failed (HTTP ${res.status})`);
    return sessionFromIdToken(body.idToken);
  }
  // Cognito: the public USER_PASSWORD_AUTH flow of InitiateAuth (the app
  // client must allow it and have no secret).
  const res = await fetch(`https://cognito-idp.${cfg.region}.amazonaws.com/`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-amz-json-1.1',
      'X-Amz-Target': 'AWSCognitoIdentityProviderService.InitiateAuth',
    },
    body: JSON.stringify({
      AuthFlow: 'USER_PASSWORD_AUTH',
      ClientId: cfg.clientId,
      AuthParameters: { USERNAME: username, PASSWORD: password },
    }),
  });
  const body = (await res.json().catch(() => ({}))) as {
    AuthenticationResult?: { IdToken?: string };
    ChallengeName?: string;
    message?: string;
  };
  if (!res.ok) throw new Error(body.message ?? `sign-in failed (HTTP ${res.status})`);
  if (body.ChallengeName) throw new Error(`Cognito asks for ${body.ChallengeName}; finish it in the hosted UI first`);
  const idToken = body.AuthenticationResult?.IdToken;
  if (!idToken) throw new Error('Cognito returned no ID token');
  return sessionFromIdToken(idToken);
}
