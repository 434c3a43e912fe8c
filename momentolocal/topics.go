package momentolocal

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// topicHub is the in-memory fan-out of every (cache, topic).
type topicHub struct {
	s      *Server
	mu     sync.Mutex
	topics map[topicKey]*topic
}

type topicKey struct{ cache, name string }

// topic is one (cache, topic): its sequence numbers, recent history and
// subscribers. Sequence numbers start at 1; the page identifies this
// incarnation of the topic (it changes when the emulator restarts).
type topic struct {
	page    uint64 // immutable
	mu      sync.Mutex
	next    uint64      // sequence number of the next message
	history []*topicMsg // the most recent messages, oldest first
	subs    map[*subscriber]struct{}
	maxHist int
}

// topicMsg is a published message, encoded once as a _SubscriptionItem and
// shared read-only by every subscriber.
type topicMsg struct {
	seq  uint64
	item *encodedMessage
}

// subscriber is one subscription's bounded queue. Publish never blocks on
// it: when it is full the message is dropped for this subscriber, who later
// sees a discontinuity.
type subscriber struct {
	ch   chan *topicMsg
	gone chan struct{} // closed when the topic's cache is deleted
}

func newTopicHub(s *Server) *topicHub {
	return &topicHub{s: s, topics: map[topicKey]*topic{}}
}

// get returns the topic, creating it if needed, or nil when its cache no
// longer exists. Checking under h.mu orders it with deleteCache.
func (h *topicHub) get(cache, name string) *topic {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.s.cache(cache) == nil {
		return nil
	}
	k := topicKey{cache, name}
	t, ok := h.topics[k]
	if !ok {
		t = &topic{
			// Pages grow over time, as Momento's do, so a subscriber that
			// resumes after a restart sees a newer page.
			page:    uint64(time.Now().UnixMilli()),
			next:    1,
			subs:    map[*subscriber]struct{}{},
			maxHist: h.s.cfg.TopicHistory,
		}
		h.topics[k] = t
	}
	return t
}

// deleteCache forgets every topic of a deleted cache and ends its
// subscriptions.
func (h *topicHub) deleteCache(cache string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, t := range h.topics {
		if k.cache != cache {
			continue
		}
		delete(h.topics, k)
		t.mu.Lock()
		for sub := range t.subs {
			close(sub.gone)
			delete(t.subs, sub)
		}
		t.mu.Unlock()
	}
}

// errCacheGone answers calls on a cache deleted meanwhile.
func errCacheGone(cache string) error {
	return status.Errorf(codes.NotFound, "cache %q not found", cache)
}

// publish appends a message to the topic and offers it to every subscriber.
func (h *topicHub) publish(cache, name string, value protoreflect.Message, publisherID string) error {
	t := h.get(cache, name)
	if t == nil {
		return errCacheGone(cache)
	}
	d := h.s.desc
	t.mu.Lock()
	defer t.mu.Unlock()
	seq := t.next

	ti := dynamicpb.NewMessage(d.topicItem)
	setUint(ti, "topic_sequence_number", seq)
	setMessage(ti, "value", value)
	setString(ti, "publisher_id", publisherID)
	setUint(ti, "sequence_page", t.page)
	item := dynamicpb.NewMessage(d.subscriptionItem)
	setMessage(item, "item", ti)
	enc, err := encodeMessage(item)
	if err != nil {
		return err
	}
	t.next++
	m := &topicMsg{seq: seq, item: enc}

	if len(t.history) == t.maxHist {
		copy(t.history, t.history[1:])
		t.history[len(t.history)-1] = m
	} else {
		t.history = append(t.history, m)
	}
	for sub := range t.subs {
		select {
		case sub.ch <- m:
		default: // full: dropped for this subscriber
		}
	}
	return nil
}

// gap describes a discontinuity to announce at the start of a
// subscription: the last number the subscriber had, and the number after
// which items resume (what the SDKs store as their last seen number).
type gap struct {
	last, resumeAfter, page uint64
}

// subscribe registers a subscriber and returns the messages to replay
// first (from resumeAt on) and, if some are unavailable, the gap to
// announce. Registration and snapshot happen under the topic's lock, so the
// replay and the live messages neither overlap nor leave a hole.
func (h *topicHub) subscribe(cache, name string, resumeAt, page uint64) (*subscriber, *topic, []*topicMsg, *gap) {
	t := h.get(cache, name)
	if t == nil {
		return nil, nil, nil, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	sub := &subscriber{ch: make(chan *topicMsg, h.s.cfg.SubscriberBuffer), gone: make(chan struct{})}
	t.subs[sub] = struct{}{}

	if resumeAt == 0 {
		return sub, t, nil, nil // latest messages only
	}
	oldest := t.next
	if len(t.history) > 0 {
		oldest = t.history[0].seq
	}
	if page != 0 && page != t.page {
		// The topic was reset since the subscriber's page: everything
		// retained is new to it.
		return sub, t, clone(t.history), &gap{last: resumeAt - 1, resumeAfter: oldest - 1, page: t.page}
	}
	if resumeAt >= t.next {
		return sub, t, nil, nil // nothing published since
	}
	if resumeAt < oldest {
		return sub, t, clone(t.history), &gap{last: resumeAt - 1, resumeAfter: oldest - 1, page: t.page}
	}
	i := int(resumeAt - oldest)
	return sub, t, clone(t.history[i:]), nil
}

// unsubscribe removes sub from t.
func (t *topic) unsubscribe(sub *subscriber) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.subs, sub)
}

func clone(ms []*topicMsg) []*topicMsg { return append([]*topicMsg(nil), ms...) }

// topicRequest authenticates and authorizes a Publish or Subscribe call.
func (s *Server) topicRequest(ctx context.Context, req *dynamicpb.Message, op Operation) (*principal, string, string, error) {
	p, err := s.authenticate(ctx)
	if err != nil {
		return nil, "", "", err
	}
	cache, name := getString(req, "cache_name"), getString(req, "topic")
	if cache == "" {
		return nil, "", "", status.Error(codes.InvalidArgument, "cache name is required")
	}
	if name == "" {
		return nil, "", "", status.Error(codes.InvalidArgument, "topic name is required")
	}
	if !p.allows(Request{Op: op, Cache: cache, Topic: name}) {
		return nil, "", "", status.Errorf(codes.PermissionDenied, "Insufficient permissions to %s topic %q of cache %q", op, name, cache)
	}
	if s.cache(cache) == nil {
		return nil, "", "", status.Errorf(codes.NotFound, "cache %q not found", cache)
	}
	return p, cache, name, nil
}

// publish implements /cache_client.pubsub.Pubsub/Publish.
func (s *Server) publish(ctx context.Context, req *dynamicpb.Message) (proto.Message, error) {
	p, cache, name, err := s.topicRequest(ctx, req, OpPublish)
	if err != nil {
		return nil, err
	}
	value := getMessage(req, "value")
	if value == nil || whichOneof(value, "kind") == "" {
		return nil, status.Error(codes.InvalidArgument, "a value (text or binary) is required")
	}
	size := len(getBytes(value, "binary"))
	if whichOneof(value, "kind") == "text" {
		size = len(getString(value, "text")) // bytes of UTF-8
	}
	if size > maxTopicPayload {
		return nil, limitExceeded(causeRequestSize,
			"topic message payload of %d bytes exceeds the request limit of %d bytes (4 KB)", size, maxTopicPayload)
	}
	if err := s.topics.publish(cache, name, value, p.tokenID); err != nil {
		if status.Code(err) == codes.NotFound {
			return nil, err
		}
		return nil, status.Error(codes.Internal, err.Error())
	}
	return dynamicpb.NewMessage(s.desc.empty), nil
}

// subscribe implements /cache_client.pubsub.Pubsub/Subscribe: a heartbeat
// first, then any replayed messages, then live messages and periodic
// heartbeats until the client goes away or the server closes.
func (s *Server) subscribe(ctx context.Context, req *dynamicpb.Message, send func(any) error) error {
	_, cache, name, err := s.topicRequest(ctx, req, OpSubscribe)
	if err != nil {
		return err
	}
	sub, t, replay, g := s.topics.subscribe(cache, name,
		getUint(req, "resume_at_topic_sequence_number"), getUint(req, "sequence_page"))
	if sub == nil {
		return errCacheGone(cache)
	}
	defer t.unsubscribe(sub)

	if err := send(s.heartbeatMsg); err != nil {
		return err
	}
	if g != nil {
		if err := send(s.discontinuity(g.last, g.resumeAfter, g.page)); err != nil {
			return err
		}
	}
	var last uint64
	for _, m := range replay {
		if err := send(m.item); err != nil {
			return err
		}
		last = m.seq
	}

	ticker := time.NewTicker(s.cfg.HeartbeatInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.done:
			return status.Error(codes.Unavailable, "momentolocal is shutting down")
		case <-sub.gone:
			return errCacheGone(cache)
		case <-ticker.C:
			if err := send(s.heartbeatMsg); err != nil {
				return err
			}
		case m := <-sub.ch:
			if last != 0 && m.seq != last+1 {
				// Messages were dropped because this subscriber was slow.
				if err := send(s.discontinuity(last, m.seq-1, t.page)); err != nil {
					return err
				}
			}
			if err := send(m.item); err != nil {
				return err
			}
			last = m.seq
		}
	}
}

// newHeartbeat builds the heartbeat item; Start encodes it once.
func (s *Server) newHeartbeat() proto.Message {
	item := dynamicpb.NewMessage(s.desc.subscriptionItem)
	setMessage(item, "heartbeat", dynamicpb.NewMessage(s.desc.heartbeat))
	return item
}

// discontinuity builds a discontinuity item. new_topic_sequence is the
// number after which items resume, as the proto describes it and as both
// JS SDKs read it (they store it as their last seen number and resume at
// it + 1, src/internal/pubsub-client.ts), not the next number delivered.
func (s *Server) discontinuity(last, resumeAfter, page uint64) proto.Message {
	d := dynamicpb.NewMessage(s.desc.discontinuity)
	setUint(d, "last_topic_sequence", last)
	setUint(d, "new_topic_sequence", resumeAfter)
	setUint(d, "new_sequence_page", page)
	item := dynamicpb.NewMessage(s.desc.subscriptionItem)
	setMessage(item, "discontinuity", d)
	return item
}
