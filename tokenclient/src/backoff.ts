// Waiting between attempts: exponential backoff with jitter, Retry-After
// parsing, and an abortable sleep.

/** Exponential backoff between retries. */
export interface BackoffOptions {
  /** Upper bound of the first wait. Default 500 ms. */
  initialDelayMs?: number;
  /** Upper bound of any wait. Default 30 s. */
  maxDelayMs?: number;
  /** Growth of the bound per attempt. Default 2. */
  multiplier?: number;
}

/** BackoffOptions with every default filled in. */
export type ResolvedBackoff = Required<BackoffOptions>;

export function resolveBackoff(o: BackoffOptions | undefined): ResolvedBackoff {
  const r = {
    initialDelayMs: o?.initialDelayMs ?? 500,
    maxDelayMs: o?.maxDelayMs ?? 30_000,
    multiplier: o?.multiplier ?? 2,
  };
  if (!(r.initialDelayMs > 0) || !(r.maxDelayMs >= r.initialDelayMs) || !(r.multiplier >= 1)) {
    throw new RangeError('backoff: need 0 < initialDelayMs <= maxDelayMs and multiplier >= 1');
  }
  return r;
}

/**
 * The wait before retry number `retry` (0 for the first retry): a random
 * value in [bound/2, bound] where bound = initial * multiplier^retry,
 * capped at maxDelayMs ("equal jitter": never zero, never in lock step).
 */
export function backoffDelay(retry: number, b: ResolvedBackoff, random: () => number): number {
  const bound = Math.min(b.maxDelayMs, b.initialDelayMs * Math.pow(b.multiplier, Math.max(0, retry)));
  return bound / 2 + random() * (bound / 2);
}

/**
 * Parses a Retry-After header: delay-seconds or an HTTP date. Returns
 * milliseconds from now (0 for a date in the past), or undefined when the
 * header is absent or malformed.
 */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at) || !/[a-z]/i.test(v)) return undefined;
  return Math.max(0, at - nowMs);
}

/** An Error for an aborted wait or request; `name` is "AbortError". */
export function abortError(): Error {
  const e = new Error('aborted');
  e.name = 'AbortError';
  return e;
}

/** Resolves after ms, or rejects with an AbortError when signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError());
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
