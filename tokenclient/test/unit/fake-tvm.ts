// A scripted tvm endpoint for unit tests: a fetch function that answers
// from a queue of replies and records every request.

export interface Reply {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Reject like a network failure instead of answering. */
  networkError?: boolean;
  /** Never answer (until the request is aborted). */
  hang?: boolean;
  /** Answer after this many ms (fake timers). */
  delayMs?: number;
}

export interface Recorded {
  url: string;
  method: string;
  headers: Headers;
  credentials: RequestCredentials | undefined;
  cache: RequestCache | undefined;
  /** Date.now() when the request was made. */
  at: number;
}

/** A token body valid for ttlSec from the (fake) clock's now. */
export function tokenBody(ttlSec: number, authToken = `tok-${Math.random().toString(36).slice(2)}`, nowMs = Date.now()) {
  return { authToken, expiresAt: Math.floor(nowMs / 1000) + ttlSec };
}

export class FakeTvm {
  readonly requests: Recorded[] = [];
  private readonly replies: (Reply | ((r: Recorded) => Reply))[] = [];
  /** Used when the queue is empty. */
  fallback: ((r: Recorded) => Reply) | null = null;
  private issued = 0;

  /** Queues replies, answered in order. */
  reply(...rs: (Reply | ((r: Recorded) => Reply))[]): this {
    this.replies.push(...rs);
    return this;
  }

  /** A 200 with a fresh token of ttlSec (computed when the request arrives). */
  static ok(ttlSec: number, headers?: Record<string, string>): (r: Recorded) => Reply {
    return () => ({ status: 200, body: tokenBody(ttlSec), headers });
  }

  /** Every request without a queued reply gets a fresh token of ttlSec. */
  alwaysOk(ttlSec: number): this {
    this.fallback = () => ({ status: 200, body: tokenBody(ttlSec, `tok-${++this.issued}`) });
    return this;
  }

  readonly fetch: typeof fetch = async (input, init) => {
    const rec: Recorded = {
      url: String(input instanceof Request ? input.url : input),
      method: init?.method ?? 'GET',
      headers: new Headers(init?.headers),
      credentials: init?.credentials,
      cache: init?.cache,
      at: Date.now(),
    };
    this.requests.push(rec);
    const next = this.replies.shift() ?? this.fallback;
    if (!next) throw new Error(`FakeTvm: no reply queued for request ${this.requests.length}`);
    const r = typeof next === 'function' ? next(rec) : next;
    const signal = init?.signal;
    const aborted = () => {
      const e = new Error('The operation was aborted.');
      e.name = 'AbortError';
      return e;
    };
    if (signal?.aborted) throw aborted();
    if (r.hang || r.delayMs) {
      await new Promise<void>((resolve, reject) => {
        const t = r.hang ? undefined : setTimeout(resolve, r.delayMs);
        signal?.addEventListener('abort', () => {
          clearTimeout(t);
          reject(aborted());
        });
      });
    }
    if (r.networkError) throw new TypeError('Failed to fetch');
    const body = r.body === undefined ? '' : typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
    return new Response(body, {
      status: r.status ?? 200,
      headers: { 'Content-Type': 'application/json', ...r.headers },
    });
  };
}
