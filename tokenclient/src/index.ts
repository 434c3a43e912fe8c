// @tvmgo/token-client: keep a browser page supplied with Momento tokens from
// a tvm token vending machine, and Momento topic subscriptions alive across
// token refreshes, errors and dropped connections.

export { TokenSource } from './token-source.js';
export type { Token, TokenSourceOptions, RetryOptions, RetryEvent } from './token-source.js';
export { TokenError, UnauthorizedError, ForbiddenError } from './errors.js';
export type { TokenErrorKind, TokenErrorInit } from './errors.js';
export type { BackoffOptions } from './backoff.js';
export { momentoCredentials, decodeToken, isLoopbackEndpoint } from './credentials.js';
export type { CredentialOptions, TokenContents } from './credentials.js';
export { RefreshingTopicSubscription, subscribeTopic, SilenceError } from './subscription.js';
export type {
  Discontinuity,
  Position,
  SubscriptionState,
  SubscriptionStatus,
  TopicSubscriptionOptions,
} from './subscription.js';
export { openSdkStream, StreamTimeoutError } from './sdk-stream.js';
export type { OpenStream, Stream, StreamHandlers, StreamRequest } from './sdk-stream.js';
export { TopicPublisher } from './publisher.js';
export type { TopicPublisherOptions } from './publisher.js';
