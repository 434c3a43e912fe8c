// A chat room: one Momento topic, subscribed and published to with tokens
// from the vending machine that cover only this topic. @tvmgo/token-client
// does the work: its TokenSource fetches the tokens (one request at a time,
// refreshed ahead of expiry, retried with backoff), and its refreshing
// subscription moves to each new token, recovers from errors and silent
// connections, resumes after the last sequence number seen and drops
// duplicates, so nothing is lost or shown twice.

import {
  DefaultMomentoLoggerFactory,
  DefaultMomentoLoggerLevel,
  MomentoErrorCode,
  TopicConfigurations,
  TopicItem,
  TopicPublish,
  TopicSubscribe,
} from '@gomomento/sdk-web';
import {
  ForbiddenError,
  type RefreshingTopicSubscription,
  type SubscriptionStatus,
  TokenError,
  TokenSource,
  TopicPublisher,
  UnauthorizedError,
  subscribeTopic,
} from '@tvmgo/token-client';
import type { ChatConfig } from './config';

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
  state: SubscriptionStatus['state'];
  /** Unix seconds when the current Momento token expires. */
  tokenExpiresAt: number;
  refreshes: number;
  /** Failures (lost subscription, silence) recovered by reconnecting. */
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

const configuration = TopicConfigurations.Browser.latest(new DefaultMomentoLoggerFactory(DefaultMomentoLoggerLevel.WARN));

/**
 * A subscription that has received nothing, not even a heartbeat (Momento
 * sends one every few seconds), for this long is considered dead and is
 * replaced, resuming from the last sequence number.
 */
const silenceLimitMs = 60_000;

export class Room {
  private readonly tokens: TokenSource;
  private readonly publisher: TopicPublisher;
  /** Empty: the endpoint named by the token (real Momento, or a local emulator). */
  private readonly endpoint: string | undefined;
  private sub: RefreshingTopicSubscription | null = null;
  private stopped = false;
  private troubled = false;
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
    idToken: () => string,
    readonly name: string,
    private readonly events: RoomEvents,
  ) {
    this.endpoint = cfg.momentoEndpoint || undefined;
    // The token covers only this room: the resolver intersects ?topic= with
    // what the user's groups allow. The ID token goes in the Authorization
    // header; nothing else the page sends can widen the scope.
    const url = new URL(cfg.tokenUrl, location.href);
    url.searchParams.set('topic', name);
    this.tokens = new TokenSource({
      url,
      headers: () => ({ Authorization: `Bearer ${idToken()}` }),
      credentials: 'omit',
    });
    this.tokens.on('retry', r =>
      console.info(`room ${name}: token request failed (${r.error.kind}, HTTP ${r.error.status}); retrying in ${Math.round(r.delayMs)} ms`),
    );
    this.publisher = new TopicPublisher({ tokens: this.tokens, configuration, endpoint: this.endpoint });
  }

  /** Gets a token and subscribes; resolves once live (or once the room failed for good). */
  async start(): Promise<void> {
    if (this.stopped) return;
    this.sub = subscribeTopic({
      tokens: this.tokens,
      cacheName: this.cfg.cacheName,
      topicName: this.name,
      configuration,
      endpoint: this.endpoint,
      silenceTimeoutMs: silenceLimitMs,
      onItem: (item, pos) => this.events.onMessage(toMessage(item, pos.sequenceNumber, pos.sequencePage)),
      onDiscontinuity: d =>
        this.events.onProblem(
          `Some messages could not be delivered (after sequence ${d.lastSequenceNumber}, resumed after ${d.newSequenceNumber}).`,
          false,
        ),
      onStatus: s => this.onStatus(s),
      onError: (e, fatal) => this.onError(e, fatal),
    });
    await this.sub.ready.catch(() => undefined); // failures arrive through onError
  }

  stop(): void {
    this.stopped = true;
    this.sub?.close();
    this.tokens.close();
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
    if (this.stopped) throw new Error('not connected');
    const r = await this.publisher.publish(this.cfg.cacheName, this.name, value);
    if (r instanceof TopicPublish.Error) {
      if (r.errorCode() === MomentoErrorCode.PERMISSION_ERROR) {
        throw new PublishDeniedError(
          `Momento refused to publish: your token for room "${this.name}" is subscribe-only (${r.errorCode()}).`,
        );
      }
      throw new Error(`publish failed: ${r.errorCode()}: ${r.message()}`);
    }
  }

  private onStatus(s: SubscriptionStatus): void {
    if (this.stopped && s.state !== 'closed') return;
    const was = this.status.state;
    if (s.state !== was) {
      console.info(`room ${this.name}: ${s.state}, after sequence ${s.position ? `${s.position.sequenceNumber} (page ${s.position.sequencePage})` : '(none: new messages only)'}`);
    }
    this.setStatus({
      state: s.state,
      tokenExpiresAt: s.tokenExpiresAtMs === null ? 0 : Math.round(s.tokenExpiresAtMs / 1000),
      refreshes: s.refreshes,
      reconnects: s.reconnects,
      lastSeq: s.position?.sequenceNumber ?? 0,
      duplicatesDropped: s.duplicatesDropped,
    });
    if (s.state === 'live' && this.troubled) {
      this.troubled = false;
      this.events.onRecovered();
    }
  }

  private onError(e: unknown, fatal: boolean): void {
    if (this.stopped) return;
    console.warn(`room ${this.name}: ${fatal ? 'stopped' : 'retrying'}: ${describe(e)}`);
    if (!fatal) {
      this.troubled = true;
      this.events.onProblem(`Connection problem (${describe(e)}); retrying`, false);
      return;
    }
    if (e instanceof UnauthorizedError) {
      this.events.onProblem('Your sign-in expired or was refused; please sign in again.', true);
      this.stop();
      this.events.onSignedOut();
      return;
    }
    if (e instanceof ForbiddenError || (e instanceof TokenError && e.kind === 'bad_request')) {
      this.events.onProblem(`Not allowed in room "${this.name}": ${e.message}`, true);
    } else if (e instanceof TopicSubscribe.Error && e.errorCode() === MomentoErrorCode.PERMISSION_ERROR) {
      this.events.onProblem(`Momento refused the subscription to "${this.name}": ${e.message()}`, true);
    } else {
      this.events.onProblem(`The room stopped: ${describe(e)}`, true);
    }
    this.stop();
  }

  private setStatus(patch: Partial<RoomStatus>): void {
    this.status = { ...this.status, ...patch };
    this.events.onStatus(this.status);
  }
}

function describe(e: unknown): string {
  if (e instanceof TopicSubscribe.Error) return `${e.errorCode()}: ${e.message()}`;
  return e instanceof Error ? e.message : String(e);
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
