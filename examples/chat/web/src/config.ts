// Runtime configuration. The page reads it at start from config.json next to
// index.html, so switching between the offline emulator, real Momento and the
// standalone token vending machine needs no rebuild. The chat server serves
// config.json itself; a static host serves a file written by the operator.

/** How users sign in. */
export type AuthConfig =
  | {
      /** The chat server's built-in demo identity provider. */
      type: 'demo';
      /** Base URL of the demo identity provider ("" = this origin). */
      url: string;
      /** Demo accounts to offer on the sign-in page. */
      users?: { username: string; groups: string[] }[];
      /** The demo password, shown on the sign-in page. */
      password?: string;
    }
  | {
      /** An Amazon Cognito user pool (USER_PASSWORD_AUTH flow). */
      type: 'cognito';
      region: string;
      clientId: string;
    };

export interface ChatConfig {
  /** "local" (embedded emulator), "momento" (real Momento) or "standalone". */
  mode: string;
  /** URL of the token vending machine route (absolute in the standalone shape). */
  tokenUrl: string;
  /**
   * Base URL of the Momento endpoint for the web SDK, e.g.
   * "http://127.0.0.1:9090" for the emulator. Empty: the endpoint carried by
   * the vended token (real Momento).
   */
  momentoEndpoint: string;
  /** The Momento cache whose topics are the chat rooms. */
  cacheName: string;
  /** Suggested rooms. */
  rooms: string[];
  /** Group names, used only for hints; Momento enforces the real scope. */
  groups: { readWrite: string; readOnly: string };
  auth: AuthConfig;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(o: Record<string, unknown>, key: string, def?: string): string {
  const v = o[key];
  if (typeof v === 'string') return v;
  if (v === undefined && def !== undefined) return def;
  throw new Error(`config.json: "${key}" must be a string`);
}

/** Parses and checks a config document. */
export function parseConfig(doc: unknown): ChatConfig {
  if (!isObject(doc)) throw new Error('config.json: not a JSON object');
  const auth = doc.auth;
  if (!isObject(auth)) throw new Error('config.json: "auth" must be an object');
  let authCfg: AuthConfig;
  if (auth.type === 'demo') {
    authCfg = {
      type: 'demo',
      url: str(auth, 'url', ''),
      password: typeof auth.password === 'string' ? auth.password : undefined,
      users: Array.isArray(auth.users)
        ? auth.users.filter(isObject).map(u => ({
            username: String(u.username ?? ''),
            groups: Array.isArray(u.groups) ? u.groups.map(String) : [],
          }))
        : undefined,
    };
  } else if (auth.type === 'cognito') {
    authCfg = { type: 'cognito', region: str(auth, 'region'), clientId: str(auth, 'clientId') };
  } else {
    throw new Error('config.json: auth.type must be "demo" or "cognito"');
  }
  const groups = isObject(doc.groups) ? doc.groups : {};
  return {
    mode: str(doc, 'mode', 'local'),
    tokenUrl: str(doc, 'tokenUrl'),
    momentoEndpoint: str(doc, 'momentoEndpoint', ''),
    cacheName: str(doc, 'cacheName', 'default-cache'),
    rooms: Array.isArray(doc.rooms) ? doc.rooms.map(String) : ['general'],
    groups: {
      readWrite: str(groups, 'readWrite', 'ReadWriteUserGroup'),
      readOnly: str(groups, 'readOnly', 'ReadOnlyUserGroup'),
    },
    auth: authCfg,
  };
}

/**
 * Loads config.json from the page's own origin. It is never taken from the
 * URL: a link that pointed the page at another token URL would send the
 * user's ID token there.
 */
export async function loadConfig(): Promise<ChatConfig> {
  const url = new URL('config.json', location.href);
  const res = await fetch(url, { cache: 'no-store', credentials: 'same-origin' });
  if (!res.ok) throw new Error(`loading ${url.pathname}: HTTP ${res.status}`);
  return parseConfig(await res.json());
}
