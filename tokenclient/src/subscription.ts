// RefreshingTopicSubscription: a topic subscription that outlives tokens,
// errors and silent connections without losing or repeating a message.

import {
  type CredentialProvider,
  DefaultMomentoLoggerFactory,
  DefaultMomentoLoggerLevel,
  MomentoErrorCode,
  type TopicConfiguration,
  TopicConfigurations,
  type TopicDiscontinuity,
  type TopicItem,
  TopicSubscribe,
} from '@gomomento/sdk-web';
import { type BackoffOptions, type ResolvedBackoff, abortError, backoffDelay, resolveBackoff, sleep } from './backoff.js';
import { momentoCredentials } from './credentials.js';
import { TokenError } from './errors.js';
import { type OpenStream, type Position, type Stream, openSdkStream } from './sdk-stream.js';
import type { Token, TokenSource } from './token-source.js';

export type { Position } from './sdk-stream.js';

/** Messages the server no longer had: the stream resumes after `newSequenceNumber`. */
export interface Discontinuity {
  /** The last sequence number the subscription had seen. */
  lastSequenceNumber: number;
  /** The number after which items resume (the proto's new_topic_sequence). */
  newSequenceNumber: number;
  newSequencePage: number;
}

export type SubscriptionState = 'connecting' | 'live' | 'refreshing' | 'reconnecting' | 'closed';

export interface SubscriptionStatus {
  state: SubscriptionState;
  /** Expiry of the live stream's token on this page's clock (ms), or null. */
  tokenExpiresAtMs: number | null;
  /** Times the stream moved to a new token. */
  refreshes: number;
  /** Times a lost stream (error, silence) was replaced. */
  reconnects: number;
  /** Items delivered twice (overlapping streams, replays) and dropped. */
  duplicatesDropped: number;
  discontinuities: number;
  /** The last item delivered (or the resume point after a discontinuity). */
  position: Position | null;
}

export interface TopicSubscriptionOptions {
  /** Where tokens come from; its "token" events move the subscription to each new token. */
  tokens: TokenSource;
  cacheName: string;
  topicName: string;
  /** Each item once, in order, with its position. */
  onItem(item: TopicItem, position: Position): void;
  /** Messages were lost (the server no longer had them). */
  onDiscontinuity?(d: Discontinuity): void;
  /** Every change of state or counters. */
  onStatus?(status: SubscriptionStatus): void;
  /**
   * A problem: `fatal` ones (403, 401 not recovered, PERMISSION_ERROR,
   * unknown cache...) closed the subscription; others are being retried.
   */
  onError?(error: unknown, fatal: boolean): void;
  /** Start after this position (items after it are replayed if the server still has them). Default: new items only. */
  resumeAfter?: Position | null;
  /** Default TopicConfigurations.Browser.latest() logging warnings only. */
  configuration?: TopicConfiguration;
  /** Momento base URL for momentoCredentials (see there). */
  endpoint?: string;
  /** Builds the credential provider of a token. Default momentoCredentials(token, {endpoint}). */
  credentials?: (token: Token) => CredentialProvider;
  /** A stream with nothing, not even a heartbeat, for this long is replaced. Default 30 s. */
  silenceTimeoutMs?: number;
  /** A new stream must answer within this long. Default 15 s. */
  subscribeTimeoutMs?: number;
  /** Waits between failed attempts. Default 500 ms doubling to 30 s. */
  backoff?: BackoffOptions;
  /** Opens one stream; the default is the official web SDK's. For tests. */
  openStream?: OpenStream;
  random?: () => number;
}

/** No item or heartbeat within silenceTimeoutMs. */
export class SilenceError extends Error {
  constructor(ms: number) {
    super(`no message or heartbeat for ${ms} ms`);
    this.name = 'SilenceError';
  }
}

type ConnectKind = 'connecting' | 'refreshing' | 'reconnecting';

interface Live {
  stream: Stream;
  token: Token;
  retire(): void;
}

interface Opened extends Live {
  /** The error that ended the stream, if it ended. */
  ended: unknown;
}

const fatalCodes: ReadonlySet<string> = new Set([
  MomentoErrorCode.PERMISSION_ERROR,
  MomentoErrorCode.CACHE_NOT_FOUND_ERROR,
  MomentoErrorCode.INVALID_ARGUMENT_ERROR,
  MomentoErrorCode.BAD_REQUEST_ERROR,
]);

/** Whether err ends the subscription for good. */
function isFatal(err: unknown): boolean {
  if (err instanceof TokenError) return !err.retryable;
  if (err instanceof TopicSubscribe.Error) return fatalCodes.has(err.errorCode());
  return false;
}

/** Subscribes to a topic and keeps the subscription alive; see RefreshingTopicSubscription. */
export function subscribeTopic(options: TopicSubscriptionOptions): RefreshingTopicSubscription {
  return new RefreshingTopicSubscription(options);
}

/**
 * A topic subscription that subscribes with the token source's current
 * token and keeps going:
 *
 * - on each new token (the source refreshes ahead of expiry) it opens a new
 *   stream resuming after the last item seen, and closes the old one only
 *   once the new one answered;
 * - after a stream error or silence (no heartbeat within
 *   silenceTimeoutMs) it opens a new stream the same way, with backoff;
 *   after Momento refuses the token (AUTHENTICATION_ERROR) with a new token;
 * - items are delivered once and in order: those two streams both deliver,
 *   or a replay repeats, are dropped by sequence number;
 * - discontinuities (messages the server no longer had) are reported.
 */
export class RefreshingTopicSubscription {
  /** Resolves when the subscription is first live; rejects if it fails for good (or is closed) before. */
  readonly ready: Promise<void>;
  private readonly o: TopicSubscriptionOptions;
  private readonly configuration: TopicConfiguration;
  private readonly openStream: OpenStream;
  private readonly backoff: ResolvedBackoff;
  private readonly random: () => number;
  private readonly silenceMs: number;
  private readonly closer = new AbortController();
  private readonly unlisten: (() => void)[] = [];
  private resolveReady!: () => void;
  private rejectReady!: (e: unknown) => void;
  private live: Live | null = null;
  private connecting = false;
  private pending: ConnectKind | null = null;
  private needNewToken = false;
  private afterDiscontinuity = false;
  private everLive = false;
  private lastActivity = Date.now();
  private readonly watchdog: ReturnType<typeof setInterval>;
  private st: SubscriptionStatus;

  constructor(options: TopicSubscriptionOptions) {
    this.o = options;
    this.configuration =
      options.configuration ?? TopicConfigurations.Browser.latest(new DefaultMomentoLoggerFactory(DefaultMomentoLoggerLevel.WARN));
    this.openStream = options.openStream ?? openSdkStream;
    this.backoff = resolveBackoff(options.backoff);
    this.random = options.random ?? Math.random;
    this.silenceMs = options.silenceTimeoutMs ?? 30_000;
    this.st = {
      state: 'connecting',
      tokenExpiresAtMs: null,
      refreshes: 0,
      reconnects: 0,
      duplicatesDropped: 0,
      discontinuities: 0,
      position: options.resumeAfter ? { ...options.resumeAfter } : null,
    };
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => undefined); // reported through onError too
    this.unlisten.push(
      options.tokens.on('token', t => this.onToken(t)),
      options.tokens.on('error', e => this.onTokenError(e)),
    );
    this.watchdog = setInterval(() => this.checkSilence(), Math.max(100, Math.min(5000, this.silenceMs / 4)));
    void this.connect('connecting');
  }

  /** The current state and counters. */
  get status(): SubscriptionStatus {
    return { ...this.st, position: this.st.position && { ...this.st.position } };
  }

  /** The last item delivered: pass it as resumeAfter to continue elsewhere. */
  get position(): Position | null {
    return this.status.position;
  }

  /** Unsubscribes for good. */
  close(): void {
    if (this.closer.signal.aborted) return;
    this.closer.abort();
    clearInterval(this.watchdog);
    for (const u of this.unlisten) u();
    this.live?.retire();
    this.live = null;
    this.rejectReady(abortError());
    this.update({ state: 'closed' });
  }

  private get closed(): boolean {
    return this.closer.signal.aborted;
  }

  private update(patch: Partial<SubscriptionStatus>): void {
    this.st = { ...this.st, ...patch };
    this.o.onStatus?.(this.status);
  }

  private report(e: unknown, fatal: boolean): void {
    this.o.onError?.(e, fatal);
  }

  private fail(e: unknown): void {
    if (this.closed) return;
    this.report(e, true);
    this.rejectReady(e);
    this.close();
  }

  private onToken(t: Token): void {
    if (this.closed || !this.live || t.authToken === this.live.token.authToken) return;
    void this.connect('refreshing');
  }

  private onTokenError(e: TokenError): void {
    if (this.closed) return;
    if (isFatal(e)) this.fail(e);
    else this.report(e, false);
  }

  /** Opens a stream with a token; it delivers into this subscription until retired. */
  private async open(token: Token): Promise<Opened> {
    let retired = false;
    const opened: Opened = {
      stream: { close: () => undefined },
      token,
      ended: undefined,
      retire: () => {
        retired = true;
        opened.stream.close();
      },
    };
    const credentialProvider = this.o.credentials
      ? this.o.credentials(token)
      : momentoCredentials(token, { endpoint: this.o.endpoint });
    opened.stream = await this.openStream({
      configuration: this.configuration,
      credentialProvider,
      cacheName: this.o.cacheName,
      topicName: this.o.topicName,
      resumeAfter: this.st.position,
      timeoutMs: this.o.subscribeTimeoutMs ?? 15_000,
      handlers: {
        onItem: (item, page) => {
          if (!retired) this.onItem(item, page);
        },
        onDiscontinuity: d => {
          if (!retired) this.onDiscontinuity(d);
        },
        onHeartbeat: () => {
          if (!retired) this.lastActivity = Date.now();
        },
        onError: e => {
          opened.ended = e;
          if (!retired) this.onStreamEnded(opened, e);
        },
      },
    });
    if (retired) opened.stream.close();
    return opened;
  }

  /**
   * Makes a stream live. Only one runs at a time; a request during it is
   * remembered and run afterwards if still needed.
   */
  private async connect(kind: ConnectKind): Promise<void> {
    if (this.closed) return;
    if (this.connecting) {
      if (this.pending !== 'reconnecting') this.pending = kind;
      return;
    }
    this.connecting = true;
    try {
      await this.connectLoop(kind);
    } finally {
      this.connecting = false;
    }
    const next = this.pending;
    this.pending = null;
    if (next === 'reconnecting' && !this.live) void this.connect('reconnecting');
    else if (next === 'refreshing' && this.live && this.o.tokens.current?.authToken !== this.live.token.authToken) {
      void this.connect('refreshing');
    }
  }

  private async connectLoop(kind: ConnectKind): Promise<void> {
    for (let failures = 0; !this.closed; failures++) {
      // What this attempt does depends on what is live now: the live
      // stream may have ended since the attempt was asked for.
      kind = !this.everLive ? 'connecting' : this.live ? 'refreshing' : 'reconnecting';
      this.update({ state: kind });
      try {
        const tokens = this.o.tokens;
        const token = this.needNewToken ? await tokens.refresh() : await tokens.get();
        this.needNewToken = false;
        if (this.closed) return;
        const opened = await this.open(token);
        if (opened.ended !== undefined) throw opened.ended;
        if (this.closed) {
          opened.retire();
          return;
        }
        const old = this.live;
        this.live = opened;
        this.everLive = true;
        this.lastActivity = Date.now();
        old?.retire();
        this.update({
          state: 'live',
          tokenExpiresAtMs: token.expiresAtMs,
          refreshes: this.st.refreshes + (kind === 'refreshing' && old ? 1 : 0),
        });
        this.resolveReady();
        return;
      } catch (e) {
        if (this.closed) return;
        if (isFatal(e)) return this.fail(e);
        if (e instanceof TopicSubscribe.Error && e.errorCode() === MomentoErrorCode.AUTHENTICATION_ERROR) {
          this.needNewToken = true; // Momento refused the token (expired, revoked)
        }
        this.report(e, false);
        try {
          await sleep(backoffDelay(failures, this.backoff, this.random), this.closer.signal);
        } catch {
          return;
        }
      }
    }
  }

  private onStreamEnded(s: Live, e: unknown): void {
    if (this.closed || this.live !== s) return;
    this.lostLive(e);
  }

  private lostLive(e: unknown): void {
    this.live?.retire();
    this.live = null;
    if (isFatal(e)) return this.fail(e);
    if (e instanceof TopicSubscribe.Error && e.errorCode() === MomentoErrorCode.AUTHENTICATION_ERROR) this.needNewToken = true;
    this.report(e, false);
    this.update({ state: 'reconnecting', reconnects: this.st.reconnects + 1 });
    void this.connect('reconnecting');
  }

  private checkSilence(): void {
    if (this.closed || !this.live) return;
    if (Date.now() - this.lastActivity < this.silenceMs) return;
    this.lostLive(new SilenceError(this.silenceMs));
  }

  private onItem(item: TopicItem, sequencePage: number): void {
    this.lastActivity = Date.now();
    const seq = item.sequenceNumber();
    const last = this.st.position;
    if (last && last.sequencePage === sequencePage && seq <= last.sequenceNumber) {
      this.update({ duplicatesDropped: this.st.duplicatesDropped + 1 });
      return;
    }
    if (last && last.sequencePage === sequencePage && seq > last.sequenceNumber + 1 && !this.afterDiscontinuity) {
      // A hole the server did not announce: report it like one.
      this.discontinuity({ lastSequenceNumber: last.sequenceNumber, newSequenceNumber: seq - 1, newSequencePage: sequencePage });
    }
    this.afterDiscontinuity = false;
    const position = { sequenceNumber: seq, sequencePage };
    this.update({ position });
    this.o.onItem(item, { ...position });
  }

  private onDiscontinuity(d: TopicDiscontinuity): void {
    this.lastActivity = Date.now();
    const next = d.newSequenceNumber();
    const page = d.newSequencePage();
    // Items resume after `next` (the proto's meaning, and the SDKs'). The
    // position becomes next - 1 so that an item numbered `next` is still
    // delivered, from servers that put the next number to be delivered
    // there instead (momentolocal does). Resuming from next - 1 at worst
    // earns one more discontinuity, which is then not reported again.
    const floor = Math.max(0, next - 1);
    const last = this.st.position;
    if (last && last.sequencePage === page && last.sequenceNumber >= floor) return; // nothing we lack
    this.afterDiscontinuity = true;
    this.discontinuity({ lastSequenceNumber: d.lastSequenceNumber(), newSequenceNumber: next, newSequencePage: page }, floor);
  }

  private discontinuity(d: Discontinuity, floor?: number): void {
    const patch: Partial<SubscriptionStatus> = { discontinuities: this.st.discontinuities + 1 };
    if (floor !== undefined) patch.position = { sequenceNumber: floor, sequencePage: d.newSequencePage };
    this.update(patch);
    this.o.onDiscontinuity?.(d);
  }
}
