// A topic server for unit tests of RefreshingTopicSubscription, behind the
// OpenStream seam: sequence numbers, a bounded history replayed on resume
// (with a discontinuity when the resume point is gone), heartbeats every
// 5 s, and scripted failures.

import { TopicDiscontinuity, TopicItem, TopicSubscribe } from '@gomomento/sdk-web';
import type { OpenStream, Position, StreamRequest } from '../../src/index.js';

/** What the next open does. */
export type OpenPlan =
  | { kind: 'ok'; delayMs?: number }
  /** Fails before the stream is established, after delayMs. */
  | { kind: 'fail'; error: unknown; delayMs?: number }
  /** Never answers: the request times out. */
  | { kind: 'hang' };

export class FakeStream {
  closed = false;
  /** A muted stream is alive but silent: no heartbeats, no items. */
  muted = false;
  readonly openedAt = Date.now();
  closedAt: number | null = null;

  constructor(
    readonly req: StreamRequest,
    private readonly server: FakeTopic,
  ) {}

  get token(): string {
    return this.req.credentialProvider.getAuthToken();
  }

  deliver(seq: number, value: string): void {
    if (this.closed || this.muted) return;
    this.req.handlers.onItem(new TopicItem(value, seq, { tokenId: 'publisher' }), this.server.page);
  }

  heartbeat(): void {
    if (!this.closed && !this.muted) this.req.handlers.onHeartbeat();
  }

  /** Ends the stream with an error, as the SDK reports one. */
  fail(error: TopicSubscribe.Error): void {
    if (this.closed) return;
    this.closed = true;
    this.closedAt = Date.now();
    this.req.handlers.onError(error);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closedAt = Date.now();
  }
}

export class FakeTopic {
  page = 1;
  next = 1;
  history: { seq: number; value: string }[] = [];
  readonly streams: FakeStream[] = [];
  readonly plans: OpenPlan[] = [];
  /**
   * What a discontinuity's new_topic_sequence holds: "after" (the proto:
   * the number after which items resume, i.e. oldest - 1) or "next" (the
   * next number delivered, as momentolocal does).
   */
  discontinuityStyle: 'after' | 'next' = 'after';
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(readonly maxHistory = 100) {
    this.timer = setInterval(() => {
      for (const s of this.streams) s.heartbeat();
    }, 5000);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  get open(): FakeStream[] {
    return this.streams.filter(s => !s.closed);
  }

  publish(value: string): number {
    const seq = this.next++;
    this.history.push({ seq, value });
    if (this.history.length > this.maxHistory) this.history.shift();
    for (const s of this.streams) s.deliver(seq, value);
    return seq;
  }

  readonly openStream: OpenStream = async req => {
    const plan = this.plans.shift() ?? { kind: 'ok' };
    if (plan.kind === 'hang') {
      await new Promise(r => setTimeout(r, req.timeoutMs));
      throw new Error('timed out');
    }
    if (plan.delayMs) await new Promise(r => setTimeout(r, plan.delayMs));
    if (plan.kind === 'fail') throw plan.error;
    const s = new FakeStream(req, this);
    // Registered before the snapshot: replay and live items neither overlap nor leave a hole.
    this.streams.push(s);
    const replay = this.replayFor(req.resumeAfter);
    // The first message is a heartbeat, which establishes the stream; the
    // replay follows in later events.
    setTimeout(() => {
      if (s.closed) return;
      if (replay.gap) req.handlers.onDiscontinuity(replay.gap);
      for (const m of replay.items) s.deliver(m.seq, m.value);
    }, 0);
    return { close: () => s.close() };
  };

  private replayFor(from: Position | null): { gap?: TopicDiscontinuity; items: { seq: number; value: string }[] } {
    if (!from) return { items: [] };
    const oldest = this.history[0]?.seq ?? this.next;
    const resumeAt = from.sequenceNumber + 1;
    const gapAt = (last: number) =>
      new TopicDiscontinuity(last, this.discontinuityStyle === 'after' ? oldest - 1 : oldest, this.page);
    if (from.sequencePage !== this.page) return { gap: gapAt(from.sequenceNumber), items: [...this.history] };
    if (resumeAt < oldest) return { gap: gapAt(from.sequenceNumber), items: [...this.history] };
    return { items: this.history.filter(m => m.seq >= resumeAt) };
  }
}
