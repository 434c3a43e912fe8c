// Subscribing to a topic from a given sequence number with the official web
// SDK.
//
// @gomomento/sdk-web 1.118.0 resumes a subscription from its last sequence
// number by itself when a stream restarts, but its public subscribe() always
// starts a new subscription "from now": there is no option to resume with a
// new token. A token refresh needs exactly that, so this module drives the
// SDK's own subscription machinery (PubsubClient.sendSubscribe with a
// SubscriptionState holding the last sequence number and page), which is
// what the SDK runs internally on a restart. Everything on the wire, error
// mapping and retry behaviour stay the SDK's.

import {
  CredentialProvider,
  TopicConfiguration,
  TopicDiscontinuity,
  TopicItem,
  TopicSubscribe,
} from '@gomomento/sdk-web';
import { PubsubClient } from '@gomomento/sdk-web/dist/src/internal/pubsub-client';
import { SubscriptionState } from '@gomomento/sdk-core/dist/src/internal/subscription-state';

/** Where a topic's stream was: the last sequence number seen and its page. */
export interface ResumePoint {
  seq: number;
  page: number;
}

export interface SubscribeHandlers {
  /** An item, with the sequence page it belongs to. */
  onItem(item: TopicItem, page: number): void;
  onDiscontinuity(d: TopicDiscontinuity): void;
  /** A heartbeat: the stream is alive. */
  onHeartbeat(): void;
  /** An error after the subscription was established (the stream is over). */
  onError(e: TopicSubscribe.Error): void;
}

/** A live subscription. */
export interface Subscription {
  unsubscribe(): void;
}

// The part of the SDK's PubsubClient used here (sendSubscribe is protected
// in its type declarations).
interface SendSubscribe {
  sendSubscribe(options: {
    cacheName: string;
    topicName: string;
    onItem: (item: TopicItem) => void;
    onError: (e: TopicSubscribe.Error, s: TopicSubscribe.Subscription) => void;
    onDiscontinuity: (d: TopicDiscontinuity) => void;
    onHeartbeat: () => void;
    onConnectionLost: () => void;
    onSubscriptionEnd: () => void;
    subscriptionState: SubscriptionState;
    subscription: TopicSubscribe.Subscription;
    restartedDueToError: boolean;
    firstMessage: boolean;
  }): Promise<TopicSubscribe.Response>;
}

/**
 * Subscribes to cacheName/topicName. With `from`, the stream resumes after
 * that sequence number (the server replays what it still holds, or sends a
 * discontinuity); without it, it starts with new messages. The promise
 * resolves once the server answered (its first heartbeat or item) and
 * rejects with the SDK's error (e.g. PERMISSION_ERROR) or on timeout.
 */
export function subscribeFrom(
  configuration: TopicConfiguration,
  credentialProvider: CredentialProvider,
  cacheName: string,
  topicName: string,
  from: ResumePoint | null,
  handlers: SubscribeHandlers,
  timeoutMs = 15_000,
): Promise<Subscription> {
  const client = new PubsubClient({ configuration, credentialProvider }) as unknown as SendSubscribe;
  const state = new SubscriptionState();
  if (from) {
    state.lastTopicSequenceNumber = from.seq;
    state.lastTopicSequencePage = from.page;
  }
  const subscription = new TopicSubscribe.Subscription(configuration.getLoggerFactory(), state);
  const handle: Subscription = { unsubscribe: () => subscription.unsubscribe() };

  return new Promise<Subscription>((resolve, reject) => {
    let settled = false;
    const ready = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(handle);
    };
    const fail = (e: unknown) => {
      if (settled) {
        if (e instanceof TopicSubscribe.Error) handlers.onError(e);
        return;
      }
      settled = true;
      clearTimeout(timer);
      subscription.unsubscribe();
      reject(e);
    };
    const timer = setTimeout(() => fail(new Error(`subscribing to ${topicName} timed out`)), timeoutMs);

    client
      .sendSubscribe({
        cacheName,
        topicName,
        subscriptionState: state,
        subscription,
        onItem: item => {
          ready();
          handlers.onItem(item, state.lastTopicSequencePage ?? 0);
        },
        onHeartbeat: () => {
          ready();
          handlers.onHeartbeat();
        },
        onDiscontinuity: d => {
          ready();
          handlers.onDiscontinuity(d);
        },
        onError: e => fail(e),
        onConnectionLost: () => undefined,
        onSubscriptionEnd: () => undefined,
        restartedDueToError: false,
        firstMessage: true,
      })
      .then(
        r => (r instanceof TopicSubscribe.Error ? fail(r) : ready()),
        e => fail(e),
      );
  });
}
