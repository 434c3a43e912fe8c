// Failures of a token request, one class per thing a caller handles
// differently. No message ever contains a token, a header value or a
// credential: only the status, the server's error code and its message
// (which tvm guarantees to be safe text).

/** What went wrong with a token request. */
export type TokenErrorKind =
  /** 401: the caller's credential is missing, invalid or about to expire. */
  | 'unauthorized'
  /** 403: the caller is known but gets no token (no scope, CORS refused). */
  | 'forbidden'
  /** 400: the request was malformed (e.g. a narrowing parameter). */
  | 'bad_request'
  /** 429: over the rate limit; retried after Retry-After. */
  | 'rate_limited'
  /** 503: the endpoint or Momento is unavailable; retried after Retry-After. */
  | 'unavailable'
  /** 500, 502, 504 and other 5xx: retried with backoff. */
  | 'server'
  /** The request never got an HTTP answer (offline, DNS, CORS, reset). */
  | 'network'
  /** No answer within the request timeout. */
  | 'timeout'
  /** A 200 whose body is not `{authToken, expiresAt}`, or another status. */
  | 'bad_response'
  /** The token source was closed. */
  | 'closed';

/** Options of a TokenError. */
export interface TokenErrorInit {
  /** HTTP status; 0 when there was no HTTP answer. */
  status: number;
  /** The server's stable error code (`error` in tvm's JSON), or the kind. */
  code?: string;
  /** Retry-After of a 429 or 503, in milliseconds, when the server sent one. */
  retryAfterMs?: number;
  /** Number of requests made before giving up. */
  attempts?: number;
  cause?: unknown;
}

/**
 * A failed token request. `kind` says what happened; `retryable` whether
 * asking again later may succeed (the source has already retried as often
 * as configured). 401 and 403 have their own subclasses.
 */
export class TokenError extends Error {
  readonly kind: TokenErrorKind;
  readonly status: number;
  readonly code: string;
  readonly retryAfterMs: number | undefined;
  readonly attempts: number;

  constructor(kind: TokenErrorKind, message: string, init: TokenErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'TokenError';
    this.kind = kind;
    this.status = init.status;
    this.code = init.code ?? kind;
    this.retryAfterMs = init.retryAfterMs;
    this.attempts = init.attempts ?? 1;
  }

  /** Whether a later request may succeed without the caller changing anything. */
  get retryable(): boolean {
    return retryableKinds.has(this.kind);
  }
}

const retryableKinds: ReadonlySet<TokenErrorKind> = new Set<TokenErrorKind>([
  'rate_limited',
  'unavailable',
  'server',
  'network',
  'timeout',
]);

/**
 * 401: the credential sent (the headers from `headers()`) was refused. The
 * source called `onUnauthorized` first, when set, and retried once if it
 * asked to. `challenge` is the WWW-Authenticate header when the page may
 * read it (same origin, or exposed by CORS), else null.
 */
export class UnauthorizedError extends TokenError {
  readonly challenge: string | null;

  constructor(message: string, init: TokenErrorInit & { challenge: string | null }) {
    super('unauthorized', message, init);
    this.name = 'UnauthorizedError';
    this.challenge = init.challenge;
  }
}

/** 403: the caller is authenticated but may not have a token. Never retried. */
export class ForbiddenError extends TokenError {
  constructor(message: string, init: TokenErrorInit) {
    super('forbidden', message, init);
    this.name = 'ForbiddenError';
  }
}
