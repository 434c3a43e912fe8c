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
  lastSeq: number;
  duplicatesDropped: number;
}

export interface RoomEvents {
  onMessage(m: ChatMessage): void;
  onStatus(s: RoomStatus): void;
  /** A problem worth showing; `fatal` means the room stopped. */
  onProblem(text: string, fatal: boolean): void;
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

export class Room {
  private configuration: TopicConfiguration = TopicConfigurations.Browser.latest(loggerFactory);
  private client: TopicClient | null = null;
  private sub: Subscription | null = null;
  private last: ResumePoint | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private connecting: Promise<void> | null = null;
  private backoffMs = 1000;
  private status: RoomStatus = {
    state: 'connecting',
    tokenExpiresAt: 0,
    refreshes: 0,
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
    await this.reconnect('connecting');
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
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

  /** Fetches a new token now and moves the subscription to it. */
  refreshNow(): Promise<void> {
    return this.reconnect('refreshing');
  }

  private async publish(value: string): Promise<void> {
    if (this.connecting) await this.connecting;
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
      sub = await subscribeFrom(this.configuration, creds, this.cfg.cacheName, this.name, this.last, {
        onItem: (item, page) => this.onItem(item, page),
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
    const old = this.sub;
    this.sub = sub;
    this.client = client;
    old?.unsubscribe();
    this.backoffMs = 1000;
    const refreshes = state === 'connecting' ? this.status.refreshes : this.status.refreshes + 1;
    this.setStatus({ state: 'live', tokenExpiresAt: token.expiresAt, refreshes });
    this.timer = setTimeout(() => void this.reconnect('refreshing'), refreshDelayMs(token.expiresAt));
  }

  private fail(e: unknown): void {
    if (this.stopped) return;
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
    this.setStatus({ state: 'reconnecting' });
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
    // As the SDK does: the new sequence number is where the stream now is.
    this.last = { seq: d.newSequenceNumber(), page: d.newSequencePage() };
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
