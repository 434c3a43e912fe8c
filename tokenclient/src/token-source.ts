// TokenSource: gets Momento tokens from a tvm endpoint and keeps one fresh.

import {
  type BackoffOptions,
  type ResolvedBackoff,
  backoffDelay,
  parseRetryAfter,
  resolveBackoff,
  sleep,
} from './backoff.js';
import { ForbiddenError, TokenError, UnauthorizedError } from './errors.js';

/** A token as vended by tvm, with its expiry on this page's clock. */
export interface Token {
  /** The Momento disposable token (pass it to the Momento web SDK). */
  readonly authToken: string;
  /** When it expires, unix seconds, on the server's clock (as sent). */
  readonly expiresAt: number;
  /** When it arrived, on this page's clock (ms since the epoch). */
  readonly receivedAtMs: number;
  /** When it expires on this page's clock: expiresAt corrected for clock skew. */
  readonly expiresAtMs: number;
  /** When the source refreshes it (ahead of expiry, with jitter), on this page's clock. */
  readonly refreshAtMs: number;
  /**
   * The server's clock minus this page's, in ms, measured from the
   * response's Date header; 0 when the clocks agree within the header's
   * one-second resolution; null when the header could not be read (a
   * cross-origin endpoint that does not expose it).
   */
  readonly clockSkewMs: number | null;
}

/** Retry policy of a token request. */
export interface RetryOptions extends BackoffOptions {
  /** Requests per token fetch at most, the first included. Default 5. */
  maxAttempts?: number;
  /** Longest Retry-After honoured; longer ones are cut to this. Default 120 s. */
  maxRetryAfterMs?: number;
}

export interface TokenSourceOptions {
  /** The tvm endpoint, e.g. "/api/momento/token?topic=room-1"; a function is called per request. */
  url: string | URL | (() => string | URL);
  /**
   * Headers of each request, e.g. `() => ({Authorization: `Bearer ${idToken()}`})`.
   * Called before every request (retries too), so the current credential goes along.
   */
  headers?: () => HeadersInit | undefined | Promise<HeadersInit | undefined>;
  /**
   * Called on a 401, at most once per fetch. Re-authenticate (refresh the
   * identity provider's token) and return true to retry the request once
   * with fresh headers; return false to fail with the UnauthorizedError.
   */
  onUnauthorized?: (error: UnauthorizedError) => boolean | void | Promise<boolean | void>;
  /** fetch's credentials mode. Default "same-origin" (cookies only to the page's own origin). */
  credentials?: RequestCredentials;
  /** Refresh this fraction of a token's remaining lifetime before it expires (0 < x < 1). Default 1/3. */
  refreshAhead?: number;
  /** ...but at most this long before. Default 60 s. */
  maxRefreshAheadMs?: number;
  /** Refresh up to this fraction earlier, at random, so that pages do not refresh in step (0 <= x < 1). Default 0.1. */
  jitter?: number;
  /** Never refresh sooner than this after a token arrived (unless it is shorter-lived). Default 1 s. */
  minRefreshDelayMs?: number;
  /**
   * get() waits for a new token rather than return one expiring within this
   * (at most a quarter of the token's lifetime). Default 2 s.
   */
  expiryMarginMs?: number;
  /**
   * Assumed remaining lifetime of a token that looks already expired (or
   * valid for over 25 hours) by this page's clock while the Date header
   * cannot be read: the clocks disagree and the real lifetime is unknown.
   * Default 60 s.
   */
  fallbackLifetimeMs?: number;
  /** Abort a request with no answer after this long. Default 10 s. */
  requestTimeoutMs?: number;
  retry?: RetryOptions;
  /** fetch to use. Default globalThis.fetch. */
  fetch?: typeof fetch;
  /** Random numbers in [0, 1) for jitter. Default Math.random. */
  random?: () => number;
}

/** A retry the source is about to wait for. */
export interface RetryEvent {
  error: TokenError;
  /** The request that failed (1 for the first). */
  attempt: number;
  delayMs: number;
}

interface Events {
  /** Every new token, whoever asked for it. */
  token: Token;
  /** A background refresh failed (after its retries); get() and refresh() reject instead. */
  error: TokenError;
  /** A request failed and will be retried after delayMs. */
  retry: RetryEvent;
}

const maxPlausibleLifetimeMs = 25 * 3600_000; // Momento's longest token lifetime

/**
 * Fetches Momento tokens from a tvm endpoint (`GET url` →
 * `{"authToken", "expiresAt"}`) and keeps one fresh:
 *
 * - one request in flight however many callers ask at once;
 * - while anyone listens for "token" events, refreshes ahead of expiry
 *   (refreshAhead of the remaining lifetime, at most maxRefreshAheadMs,
 *   minus up to `jitter`), and retries failed background refreshes;
 * - retries 429 and 503 after their Retry-After, network errors, timeouts
 *   and other 5xx with exponential backoff, up to retry.maxAttempts;
 * - 401 fails with UnauthorizedError (after onUnauthorized and one retry),
 *   403 with ForbiddenError, without retrying;
 * - tolerates clock skew between the server and the page, using the
 *   response's Date header when readable.
 */
export class TokenSource {
  private readonly opts: TokenSourceOptions;
  private readonly backoff: ResolvedBackoff;
  private readonly fetchImpl: typeof fetch;
  private readonly random: () => number;
  private readonly listeners: { [K in keyof Events]: Set<(v: Events[K]) => void> } = {
    token: new Set(),
    error: new Set(),
    retry: new Set(),
  };
  private readonly closer = new AbortController();
  private currentToken: Token | null = null;
  private inflight: Promise<Token> | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private backgroundFailures = 0;
  private backgroundStopped = false;

  constructor(options: TokenSourceOptions) {
    this.opts = options;
    this.backoff = resolveBackoff(options.retry);
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== 'function') throw new TypeError('TokenSource: no fetch available');
    this.fetchImpl = f.bind(globalThis);
    this.random = options.random ?? Math.random;
    const ahead = options.refreshAhead ?? 1 / 3;
    const jitter = options.jitter ?? 0.1;
    if (!(ahead > 0 && ahead < 1)) throw new RangeError('TokenSource: refreshAhead must be in (0, 1)');
    if (!(jitter >= 0 && jitter < 1)) throw new RangeError('TokenSource: jitter must be in [0, 1)');
    if (!((options.retry?.maxAttempts ?? 5) >= 1)) throw new RangeError('TokenSource: retry.maxAttempts must be >= 1');
  }

  /** The latest token (possibly expired), or null before the first. */
  get current(): Token | null {
    return this.currentToken;
  }

  /** Whether close() was called. */
  get closed(): boolean {
    return this.closer.signal.aborted;
  }

  /**
   * A token valid for a while yet: the current one until its refresh time;
   * past it, the current one while a refresh runs in the background, unless
   * it expires within expiryMarginMs, in which case the new one.
   */
  get(): Promise<Token> {
    if (this.closed) return Promise.reject(closedError());
    const t = this.currentToken;
    const now = Date.now();
    if (t && now < t.refreshAtMs) return Promise.resolve(t);
    if (t && now < t.expiresAtMs - this.margin(t)) {
      this.fetchToken().catch(e => this.backgroundFailed(e));
      return Promise.resolve(t);
    }
    return this.fetchToken();
  }

  /** A new token, even if the current one is still fresh (joins a request in flight). */
  refresh(): Promise<Token> {
    if (this.closed) return Promise.reject(closedError());
    return this.fetchToken();
  }

  /** Forgets the current token (e.g. Momento refused it), so that get() fetches a new one. */
  invalidate(): void {
    this.currentToken = null;
  }

  /**
   * Listens for an event; returns a function that stops listening. While
   * any "token" listener is registered, the source refreshes in the
   * background.
   */
  on<K extends keyof Events>(event: K, listener: (value: Events[K]) => void): () => void {
    const set = this.listeners[event] as Set<(v: Events[K]) => void>;
    set.add(listener);
    if (event === 'token') this.schedule();
    return () => {
      set.delete(listener);
      if (event === 'token' && set.size === 0) clearTimeout(this.timer);
    };
  }

  /** Stops refreshing, aborts any request, and rejects later calls with kind "closed". */
  close(): void {
    if (this.closed) return;
    this.closer.abort();
    clearTimeout(this.timer);
    for (const s of Object.values(this.listeners)) s.clear();
  }

  private margin(t: Token): number {
    return Math.min(this.opts.expiryMarginMs ?? 2000, (t.expiresAtMs - t.receivedAtMs) / 4);
  }

  private emit<K extends keyof Events>(event: K, value: Events[K]): void {
    for (const l of [...this.listeners[event]] as ((v: Events[K]) => void)[]) {
      try {
        l(value);
      } catch (e) {
        // A listener's bug must not break the source or other listeners.
        setTimeout(() => {
          throw e;
        });
      }
    }
  }

  private fetchToken(): Promise<Token> {
    if (!this.inflight) {
      this.inflight = this.fetchWithRetries().finally(() => {
        this.inflight = null;
      });
    }
    return this.inflight;
  }

  private async fetchWithRetries(): Promise<Token> {
    const maxAttempts = this.opts.retry?.maxAttempts ?? 5;
    const maxRetryAfter = this.opts.retry?.maxRetryAfterMs ?? 120_000;
    let reauthenticated = false;
    let retries = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        const token = await this.request(attempt);
        this.accept(token);
        return token;
      } catch (e) {
        if (this.closed) throw closedError();
        if (!(e instanceof TokenError)) throw e;
        if (e instanceof UnauthorizedError && !reauthenticated && this.opts.onUnauthorized) {
          reauthenticated = true;
          if ((await this.opts.onUnauthorized(e)) === true) {
            if (this.closed) throw closedError();
            continue;
          }
          throw e;
        }
        if (!e.retryable || attempt >= maxAttempts) throw e;
        const delayMs =
          e.retryAfterMs !== undefined
            ? // At least what the server asked for, plus up to 10% so that
              // the callers it refused do not all come back at once.
              Math.min(e.retryAfterMs, maxRetryAfter) * (1 + 0.1 * this.random())
            : backoffDelay(retries, this.backoff, this.random);
        retries++;
        this.emit('retry', { error: e, attempt, delayMs });
        await sleep(delayMs, this.closer.signal).catch(() => {
          throw closedError();
        });
      }
    }
  }

  /** One HTTP request; resolves with the token or rejects with a TokenError. */
  private async request(attempt: number): Promise<Token> {
    const ctl = new AbortController();
    const onClose = () => ctl.abort();
    this.closer.signal.addEventListener('abort', onClose, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctl.abort();
    }, this.opts.requestTimeoutMs ?? 10_000);
    try {
      const headers = await this.opts.headers?.();
      const u = this.opts.url;
      const url = typeof u === 'function' ? u() : u;
      const sentAt = Date.now();
      let res: Response;
      let text: string;
      try {
        res = await this.fetchImpl(url, {
          method: 'GET',
          headers,
          credentials: this.opts.credentials ?? 'same-origin',
          cache: 'no-store',
          signal: ctl.signal,
        });
        text = await res.text();
      } catch (e) {
        if (timedOut) {
          throw new TokenError('timeout', 'token endpoint did not answer in time', { status: 0, attempts: attempt });
        }
        throw new TokenError('network', 'token endpoint unreachable', { status: 0, attempts: attempt, cause: e });
      }
      const receivedAt = Date.now();
      const body = parseJSON(text);
      if (res.status !== 200) throw statusError(res, body, attempt, receivedAt);
      const authToken = body?.authToken;
      const expiresAt = body?.expiresAt;
      if (typeof authToken !== 'string' || authToken === '' || typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) {
        throw new TokenError('bad_response', 'token response lacks authToken or expiresAt', {
          status: res.status,
          attempts: attempt,
        });
      }
      return this.makeToken(authToken, expiresAt, sentAt, receivedAt, res.headers.get('Date'));
    } finally {
      clearTimeout(timer);
      this.closer.signal.removeEventListener('abort', onClose);
    }
  }

  private makeToken(authToken: string, expiresAt: number, sentAt: number, receivedAt: number, date: string | null): Token {
    const skew = clockSkew(date, sentAt, receivedAt);
    let expiresAtMs = expiresAt * 1000 - (skew ?? 0);
    const lifetime = expiresAtMs - receivedAt;
    if (skew === null && (lifetime <= 0 || lifetime > maxPlausibleLifetimeMs)) {
      expiresAtMs = receivedAt + (this.opts.fallbackLifetimeMs ?? 60_000);
    }
    return {
      authToken,
      expiresAt,
      receivedAtMs: receivedAt,
      expiresAtMs,
      refreshAtMs: receivedAt + this.refreshDelay(Math.max(0, expiresAtMs - receivedAt)),
      clockSkewMs: skew,
    };
  }

  /** How long after receipt a token with this remaining lifetime is refreshed. */
  private refreshDelay(lifetime: number): number {
    const ahead = Math.min(this.opts.maxRefreshAheadMs ?? 60_000, lifetime * (this.opts.refreshAhead ?? 1 / 3));
    const jitter = this.opts.jitter ?? 0.1;
    const d = (lifetime - ahead) * (1 - jitter * this.random());
    const floor = Math.min(this.opts.minRefreshDelayMs ?? 1000, lifetime / 2);
    return Math.min(lifetime, Math.max(floor, d));
  }

  private accept(t: Token): void {
    this.currentToken = t;
    this.backgroundFailures = 0;
    this.backgroundStopped = false;
    this.emit('token', t);
    this.schedule();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    const t = this.currentToken;
    if (this.closed || !t || this.backgroundStopped || this.listeners.token.size === 0) return;
    this.timer = setTimeout(() => this.backgroundRefresh(), Math.max(0, t.refreshAtMs - Date.now()));
  }

  private backgroundRefresh(): void {
    if (this.closed || this.listeners.token.size === 0) return;
    this.fetchToken().catch(e => this.backgroundFailed(e));
  }

  private backgroundFailed(e: unknown): void {
    if (this.closed || !(e instanceof TokenError)) return;
    this.emit('error', e);
    if (!e.retryable) {
      // 401/403 and the like: asking again will not help until the caller
      // changes something (and calls get() or refresh()).
      this.backgroundStopped = true;
      return;
    }
    clearTimeout(this.timer);
    if (this.listeners.token.size === 0) return;
    const delay = backoffDelay(this.backgroundFailures++, this.backoff, this.random);
    this.timer = setTimeout(() => this.backgroundRefresh(), delay);
  }
}

function closedError(): TokenError {
  return new TokenError('closed', 'token source is closed', { status: 0 });
}

interface ErrorBody {
  authToken?: unknown;
  expiresAt?: unknown;
  error?: unknown;
  message?: unknown;
}

function parseJSON(text: string): ErrorBody | null {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null ? (v as ErrorBody) : null;
  } catch {
    return null;
  }
}

/** The TokenError of a non-200 answer. */
function statusError(res: Response, body: ErrorBody | null, attempts: number, now: number): TokenError {
  const status = res.status;
  const code = typeof body?.error === 'string' && body.error !== '' ? body.error : `http_${status}`;
  const detail = typeof body?.message === 'string' && body.message !== '' ? `: ${body.message}` : '';
  const message = `token request failed with HTTP ${status} (${code})${detail}`;
  const init = { status, code, attempts };
  if (status === 401) return new UnauthorizedError(message, { ...init, challenge: res.headers.get('WWW-Authenticate') });
  if (status === 403) return new ForbiddenError(message, init);
  if (status === 400) return new TokenError('bad_request', message, init);
  if (status === 429 || status === 503) {
    const retryAfterMs = parseRetryAfter(res.headers.get('Retry-After'), now);
    return new TokenError(status === 429 ? 'rate_limited' : 'unavailable', message, { ...init, retryAfterMs });
  }
  if (status === 408) return new TokenError('timeout', message, init);
  if (status >= 500) return new TokenError('server', message, init);
  return new TokenError('bad_response', message, init);
}

/**
 * The server's clock minus the page's, from the Date header: 0 when the
 * header is consistent with the page's clock (the server's second [D, D+1s)
 * overlaps the request's span [sentAt, receivedAt]), else the difference
 * between the middle of that second and the middle of the request; null
 * without a readable header.
 */
function clockSkew(date: string | null, sentAt: number, receivedAt: number): number | null {
  if (!date) return null;
  const d = Date.parse(date);
  if (Number.isNaN(d)) return null;
  if (receivedAt >= d && sentAt < d + 1000) return 0;
  return Math.round(d + 500 - (sentAt + receivedAt) / 2);
}
