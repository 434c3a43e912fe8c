// TopicPublisher: publishes with the token source's current token.

import {
  type CredentialProvider,
  DefaultMomentoLoggerFactory,
  DefaultMomentoLoggerLevel,
  MomentoErrorCode,
  TopicClient,
  type TopicConfiguration,
  TopicConfigurations,
  TopicPublish,
} from '@gomomento/sdk-web';
import { momentoCredentials } from './credentials.js';
import type { Token, TokenSource } from './token-source.js';

export interface TopicPublisherOptions {
  tokens: TokenSource;
  /** Default TopicConfigurations.Browser.latest() logging warnings only. */
  configuration?: TopicConfiguration;
  /** Momento base URL for momentoCredentials (see there). */
  endpoint?: string;
  /** Builds the credential provider of a token. Default momentoCredentials(token, {endpoint}). */
  credentials?: (token: Token) => CredentialProvider;
}

/**
 * Publishes to topics with a TopicClient made from the current token (a
 * new client per token). When Momento refuses the token
 * (AUTHENTICATION_ERROR, e.g. it expired while the page slept), it gets a
 * new one and publishes once more.
 */
export class TopicPublisher {
  private readonly o: TopicPublisherOptions;
  private readonly configuration: TopicConfiguration;
  private client: { authToken: string; client: TopicClient } | null = null;

  constructor(options: TopicPublisherOptions) {
    this.o = options;
    this.configuration =
      options.configuration ?? TopicConfigurations.Browser.latest(new DefaultMomentoLoggerFactory(DefaultMomentoLoggerLevel.WARN));
  }

  /** A TopicClient for the current token (rejects with the source's TokenError). */
  async topicClient(): Promise<TopicClient> {
    return this.clientFor(await this.o.tokens.get());
  }

  /**
   * Publishes value. Resolves with the SDK's response (TopicPublish.Success
   * or TopicPublish.Error, e.g. PERMISSION_ERROR for a subscribe-only
   * token); rejects with a TokenError when no token can be had.
   */
  async publish(cacheName: string, topicName: string, value: string | Uint8Array): Promise<TopicPublish.Response> {
    const token = await this.o.tokens.get();
    const r = await this.clientFor(token).publish(cacheName, topicName, value);
    if (!(r instanceof TopicPublish.Error) || r.errorCode() !== MomentoErrorCode.AUTHENTICATION_ERROR) return r;
    const fresh = await this.o.tokens.refresh();
    if (fresh.authToken === token.authToken) return r;
    return this.clientFor(fresh).publish(cacheName, topicName, value);
  }

  private clientFor(token: Token): TopicClient {
    if (this.client?.authToken !== token.authToken) {
      const credentialProvider = this.o.credentials
        ? this.o.credentials(token)
        : momentoCredentials(token, { endpoint: this.o.endpoint });
      this.client = {
        authToken: token.authToken,
        client: new TopicClient({ configuration: this.configuration, credentialProvider }),
      };
    }
    return this.client.client;
  }
}
