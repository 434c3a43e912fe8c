// One topic subscription through the official web SDK, optionally resumed
// after a given sequence number.
//
// @gomomento/sdk-web 1.118.0 resumes a stream after its last sequence number
// only inside its own restarts; its public subscribe() always starts "from
// now". Moving a subscription to a new token needs the resume, so this
// module subclasses the SDK's PubsubClient and, on the first request only,
// sets the resume point in the subscription state the SDK created, before
// the SDK builds its request from it. Everything else (the request, its
// error mapping, its own stream restarts) stays the SDK's.

import {
  type CredentialProvider,
  type TopicConfiguration,
  type TopicDiscontinuity,
  type TopicItem,
  TopicSubscribe,
} from '@gomomento/sdk-web';
import { PubsubClient } from '@gomomento/sdk-web/dist/src/internal/pubsub-client.js';

/** A place in a topic's stream: the last sequence number seen and its page. */
export interface Position {
  sequenceNumber: number;
  sequencePage: number;
}

export interface StreamHandlers {
  /** An item, with the sequence page it belongs to. */
  onItem(item: TopicItem, sequencePage: number): void;
  onDiscontinuity(d: TopicDiscontinuity): void;
  onHeartbeat(): void;
  /** The stream ended with an error after it was established; it is over. */
  onError(e: TopicSubscribe.Error): void;
}

export interface StreamRequest {
  configuration: TopicConfiguration;
  credentialProvider: CredentialProvider;
  cacheName: string;
  topicName: string;
  /** Resume after this position; null: only messages published from now on. */
  resumeAfter: Position | null;
  handlers: StreamHandlers;
  /** Reject when the server has not answered within this long. */
  timeoutMs: number;
}

/** An established stream. */
export interface Stream {
  close(): void;
}

/**
 * Opens a stream. Resolves once the server answered (its first heartbeat,
 * item or discontinuity); rejects with the SDK's TopicSubscribe.Error (e.g.
 * PERMISSION_ERROR, AUTHENTICATION_ERROR) or a StreamTimeoutError.
 */
export type OpenStream = (request: StreamRequest) => Promise<Stream>;

/** No answer from the server within StreamRequest.timeoutMs. */
export class StreamTimeoutError extends Error {
  constructor(topicName: string, timeoutMs: number) {
    super(`subscribing to topic "${topicName}": no answer within ${timeoutMs} ms`);
    this.name = 'StreamTimeoutError';
  }
}

// The parts of the SDK's send-subscribe options used here.
interface SendOptions {
  subscriptionState: { lastTopicSequenceNumber?: number; lastTopicSequencePage?: number };
  subscription: TopicSubscribe.Subscription;
}

type SdkSendOptions = Parameters<PubsubClient<never, never>['sendSubscribe']>[0];

class ResumingPubsubClient extends PubsubClient<never, never> {
  private resume: Position | null;
  private readonly sent: (o: SendOptions) => void;

  constructor(props: { configuration: TopicConfiguration; credentialProvider: CredentialProvider }, resume: Position | null, sent: (o: SendOptions) => void) {
    super(props);
    this.resume = resume;
    this.sent = sent;
  }

  protected override sendSubscribe(options: SdkSendOptions): Promise<TopicSubscribe.Response> {
    const o = options as unknown as SendOptions;
    if (this.resume) {
      // The SDK resumes at lastTopicSequenceNumber + 1 on this page.
      o.subscriptionState.lastTopicSequenceNumber = this.resume.sequenceNumber;
      o.subscriptionState.lastTopicSequencePage = this.resume.sequencePage;
      this.resume = null;
    }
    this.sent(o);
    return super.sendSubscribe(options);
  }
}

/** The OpenStream of the official web SDK. */
export const openSdkStream: OpenStream = req =>
  new Promise<Stream>((resolve, reject) => {
    let state: SendOptions['subscriptionState'] | undefined;
    let subscription: TopicSubscribe.Subscription | undefined;
    let settled = false;
    let closed = false;
    const stream: Stream = {
      close: () => {
        closed = true;
        subscription?.unsubscribe();
      },
    };
    const ready = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(stream);
    };
    const fail = (e: unknown) => {
      if (settled) {
        if (!closed && e instanceof TopicSubscribe.Error) {
          closed = true;
          req.handlers.onError(e);
        }
        return;
      }
      settled = true;
      clearTimeout(timer);
      stream.close();
      reject(e);
    };
    const timer = setTimeout(() => fail(new StreamTimeoutError(req.topicName, req.timeoutMs)), req.timeoutMs);

    const client = new ResumingPubsubClient(
      { configuration: req.configuration, credentialProvider: req.credentialProvider },
      req.resumeAfter,
      o => {
        state = o.subscriptionState;
        subscription = o.subscription;
        if (closed) subscription.unsubscribe();
      },
    );
    client
      .subscribe(req.cacheName, req.topicName, {
        onItem: item => {
          ready();
          if (!closed) req.handlers.onItem(item, state?.lastTopicSequencePage ?? 0);
        },
        onHeartbeat: () => {
          ready();
          if (!closed) req.handlers.onHeartbeat();
        },
        onDiscontinuity: d => {
          ready();
          if (!closed) req.handlers.onDiscontinuity(d);
        },
        onError: e => fail(e),
      })
      // Without a resume point the SDK resolves with the subscription (or
      // the first message's error); with one it never resolves, and the
      // first message decides through the callbacks above.
      .then(
        r => (r instanceof TopicSubscribe.Error ? fail(r) : ready()),
        e => fail(e),
      );
  });
