// A chat room: one Momento topic, subscribed and published to with a token
// from the vending machine that covers only this topic. The token is
// refreshed before it expires; the new subscription resumes after the last
// sequence number seen, and items that both the old and the new subscription
// deliver are dropped by sequence number, so nothing is lost or duplicated.

import {
  CredentialProvider,
  DefaultMomentoLoggerFactory,
  DefaultMomentoLoggerLevel,
  MomentoErrorCode,
  TopicClient,
  TopicConfiguration,
  TopicConfigurations,
  TopicDiscontinuity,
  TopicItem,
  TopicPublish,
  TopicSubscribe,
} from '@gomomento/sdk-web';
import type { ChatConfig } from './config';
import { ResumePoint, Subscription, subscribeFrom } from './resume';
import { TokenError, VendedToken, fetchToken, refreshDelayMs } from './tokens';

/** One message as shown in the UI. */
export interface ChatMessage {
  seq: number;
  page: number;
  /** The publisher's token id, set by Momento from the verified identity. */
  sender: string;
  kind: 'message' | 'join' | 'raw';
  text: string;
}

export interface RoomStatus {
  state: 'connecting' | 'live' | 'refreshing' | 'reconnecting' | 'closed';
  /** Unix seconds when the current Momento token expires. */
  tokenExpiresAt: number;
  refreshes: number;
  /** Failures (lost subscription, failed refresh) recovered by reconnecting. */
  reconnects: number;
  lastSeq: number;
  duplicatesDropped: number;
}

export interface RoomEvents {
  onMessage(m: ChatMessage): void;
  onStatus(s: RoomStatus): void;
  /** A problem worth showing; `fatal` means the room stopped. */
  onProblem(text: string, fatal: boolean): void;
  /** The room is connected again after a problem. */
  onRecovered(): void;
  /** The ID token was refused: the user must sign in again. */
  onSignedOut(): void;
}

/** A publish refused by Momento because the token may not publish. */
export class PublishDeniedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PublishDeniedError';
  }
}

const loggerFactory = new DefaultMomentoLoggerFactory(DefaultMomentoLoggerLevel.WARN);

/**
 * A subscription that has received nothing, not even a heartbeat (Momento
 * sends one every few seconds), for this long is considered dead and is
 * replaced, resuming from the last sequence number. This also covers the
 * SDK's own stream restarts, which can end without reporting an error.
 */
const silenceLimitMs = 60_000;

export class Room {
  private configuration: TopicConfiguration = TopicConfigurations.Browser.latest(loggerFactory);
  private client: TopicClient | null = null;
  private sub: Subscription | null = null;
  private last: ResumePoint | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private connecting: Promise<void> | null = null;
  private backoffMs = 1000;
  private lastActivity = Date.now();
  private watchdog: ReturnType<typeof setInterval> | undefined;
  private status: RoomStatus = {
    state: 'connecting',
    tokenExpiresAt: 0,
    refreshes: 0,
    reconnects: 0,
    lastSeq: 0,
    duplicatesDropped: 0,
  };

  constructor(
    private readonly cfg: ChatConfig,
    private readonly idToken: () => string,
    readonly name: string,
    private readonly events: RoomEvents,
  ) {}

  /** Gets a token, subscribes, and keeps the token fresh until stop(). */
  async start(): Promise<void> {
    this.watchdog = setInterval(() => this.checkSilence(), 2000);
    await this.reconnect('connecting');
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.watchdog);
    this.sub?.unsubscribe();
    this.sub = null;
    this.client = null;
    this.setStatus({ state: 'closed' });
  }

  /** Publishes a chat message; throws PublishDeniedError if not allowed. */
  async send(text: string): Promise<void> {
    await this.publish(JSON.stringify({ type: 'message', text }));
  }

  /** Announces the user in the room (only users who may publish). */
  async announceJoin(): Promise<void> {
    await this.publish(JSON.stringify({ type: 'join' }));
  }

  private async publish(value: string): Promise<void> {
    // Before the first connection there is no client yet; during a refresh
    // the current client stays valid, so sending never waits for it.
    if (!this.client && this.connecting) await this.connecting;
    const client = this.client;
    if (!client) throw new Error('not connected');
    const r = await client.publish(this.cfg.cacheName, this.name, value);
    if (r instanceof TopicPublish.Error) {
      if (r.errorCode() === MomentoErrorCode.PERMISSION_ERROR) {
        throw new PublishDeniedError(
          `Momento refused to publish: your token for room "${this.name}" is subscribe-only (${r.errorCode()}).`,
        );
      }
      throw new Error(`publish failed: ${r.errorCode()}: ${r.message()}`);
    }
  }

  private reconnect(state: RoomStatus['state']): Promise<void> {
    if (!this.connecting) {
      this.connecting = this.connect(state).finally(() => {
        this.connecting = null;
      });
    }
    return this.connecting;
  }

  private credentials(token: VendedToken): CredentialProvider {
    const base = this.cfg.momentoEndpoint;
    if (!base) return CredentialProvider.fromDisposableToken({ apiKey: token.authToken });
    return CredentialProvider.fromDisposableToken({
      apiKey: token.authToken,
      endpointOverrides: { cacheEndpoint: base, controlEndpoint: base, tokenEndpoint: base },
    });
  }

  private async connect(state: RoomStatus['state']): Promise<void> {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.setStatus({ state });
    let token: VendedToken;
    try {
      token = await fetchToken(this.cfg.tokenUrl, this.idToken(), this.name);
    } catch (e) {
      return this.fail(e);
    }
    if (this.stopped) return;
    const creds = this.credentials(token);
    const client = new TopicClient({ configuration: this.configuration, credentialProvider: creds });
    let sub: Subscription;
    try {
      // Subscribe with the new token before dropping the old subscription:
      // items both deliver in the overlap are dropped by sequence number.
      console.info(`room ${this.name}: ${state}: subscribing after sequence ${this.last ? this.last.seq : '(none)'}`);
      sub = await subscribeFrom(this.configuration, creds, this.cfg.cacheName, this.name, this.last, {
        onItem: (item, page) => {
          if (sub === this.sub) this.lastActivity = Date.now();
          this.onItem(item, page);
        },
        onHeartbeat: () => {
          if (sub === this.sub) this.lastActivity = Date.now();
        },
        onDiscontinuity: d => this.onDiscontinuity(d),
        onError: e => this.onStreamError(sub, e),
      });
    } catch (e) {
      return this.fail(e);
    }
    if (this.stopped) {
      sub.unsubscribe();
      return;
    }
    console.info(`room ${this.name}: ${state} done, subscribed after sequence ${this.last ? `${this.last.seq} (page ${this.last.page})` : '(none: new messages only)'}`);
    const old = this.sub;
    this.sub = sub;
    this.lastActivity = Date.now();
    this.client = client;
    old?.unsubscribe();
    this.backoffMs = 1000;
    this.setStatus({
      state: 'live',
      tokenExpiresAt: token.expiresAt,
      refreshes: this.status.refreshes + (state === 'refreshing' ? 1 : 0),
    });
    if (state === 'reconnecting') this.events.onRecovered();
    this.timer = setTimeout(() => void this.reconnect('refreshing'), refreshDelayMs(token.expiresAt));
  }

  private fail(e: unknown): void {
    if (this.stopped) return;
    console.warn(`room ${this.name}: ${e instanceof TopicSubscribe.Error ? `${e.errorCode()}: ${e.message()}` : String(e)}`);
    if (e instanceof TokenError && e.status === 401) {
      this.events.onProblem('Your sign-in expired or was refused; please sign in again.', true);
      this.stop();
      this.events.onSignedOut();
      return;
    }
    if (e instanceof TokenError && (e.status === 403 || e.status === 400)) {
      this.events.onProblem(`Not allowed in room "${this.name}": ${e.message}`, true);
      this.stop();
      return;
    }
    if (e instanceof TopicSubscribe.Error && e.errorCode() === MomentoErrorCode.PERMISSION_ERROR) {
      this.events.onProblem(`Momento refused the subscription to "${this.name}": ${e.message()}`, true);
      this.stop();
      return;
    }
    const msg = e instanceof TopicSubscribe.Error ? `${e.errorCode()}: ${e.message()}` : String(e);
    this.events.onProblem(`Connection problem (${msg}); retrying in ${Math.round(this.backoffMs / 1000)} s`, false);
    this.setStatus({ state: 'reconnecting', reconnects: this.status.reconnects + 1 });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.reconnect('reconnecting'), this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
  }

  private onStreamError(sub: Subscription, e: TopicSubscribe.Error): void {
    // Only the current subscription matters; an old one may end with an
    // error after it was replaced.
    if (this.stopped || sub !== this.sub) return;
    this.sub = null;
    this.fail(e);
  }

  private checkSilence(): void {
    if (this.stopped || this.connecting || !this.sub) return;
    if (Date.now() - this.lastActivity < silenceLimitMs) return;
    const dead = this.sub;
    this.sub = null;
    dead.unsubscribe();
    this.fail(new Error(`no heartbeat for ${silenceLimitMs / 1000} s`));
  }

  private onItem(item: TopicItem, page: number): void {
    const seq = item.sequenceNumber();
    const last = this.last;
    if (last && page === last.page && seq <= last.seq) {
      this.setStatus({ duplicatesDropped: this.status.duplicatesDropped + 1 });
      return;
    }
    this.last = { seq, page };
    this.setStatus({ lastSeq: seq });
    this.events.onMessage(toMessage(item, seq, page));
  }

  private onDiscontinuity(d: TopicDiscontinuity): void {
    // Continue below the new sequence number, so that the item carrying it
    // is never taken for a duplicate (Momento and the SDK differ on whether
    // it is the last skipped or the next delivered sequence number).
    this.last = { seq: d.newSequenceNumber() - 1, page: d.newSequencePage() };
    this.events.onProblem(
      `Some messages could not be delivered (after sequence ${d.lastSequenceNumber()}, resumed at ${d.newSequenceNumber()}).`,
      false,
    );
  }

  private setStatus(patch: Partial<RoomStatus>): void {
    this.status = { ...this.status, ...patch };
    this.events.onStatus(this.status);
  }
}

function toMessage(item: TopicItem, seq: number, page: number): ChatMessage {
  // The sender is the publisher's token id, which the vending machine set
  // from the verified identity. Nothing in the payload can change it.
  const sender = item.tokenId() ?? '(unknown)';
  const raw = item.valueString();
  try {
    const v: unknown = JSON.parse(raw);
    if (typeof v === 'object' && v !== null) {
      const o = v as Record<string, unknown>;
      if (o.type === 'join') return { seq, page, sender, kind: 'join', text: '' };
      if (o.type === 'message' && typeof o.text === 'string') return { seq, page, sender, kind: 'message', text: o.text };
    }
  } catch {
    // not JSON: shown as is
  }
  return { seq, page, sender, kind: 'raw', text: raw };
}
