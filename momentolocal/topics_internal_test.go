package momentolocal

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// event is a decoded _SubscriptionItem.
type event struct {
	kind       string
	seq        uint64
	last, next uint64
}

func decodeEvent(t *testing.T, s *Server, v any) event {
	t.Helper()
	b, err := marshalOut(v)
	require.NoError(t, err)
	m := dynamicpb.NewMessage(s.desc.subscriptionItem)
	require.NoError(t, proto.Unmarshal(b, m))
	r := m.ProtoReflect()
	fd := r.WhichOneof(r.Descriptor().Oneofs().ByName("kind"))
	ev := event{kind: string(fd.Name())}
	sub := r.Get(fd).Message()
	switch ev.kind {
	case "item":
		ev.seq = getUint(sub, "topic_sequence_number")
	case "discontinuity":
		ev.last, ev.next = getUint(sub, "last_topic_sequence"), getUint(sub, "new_topic_sequence")
	}
	return ev
}

// TestSlowSubscriberGetsDiscontinuity stalls one subscriber's stream and
// checks that its queue stays bounded, that the messages it could not take
// are dropped for it alone, and that it is told so with a discontinuity.
func TestSlowSubscriberGetsDiscontinuity(t *testing.T) {
	const buffer = 4
	s, err := Start(Config{SubscriberBuffer: buffer})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()

	ctx, cancel := context.WithCancel(metadata.NewIncomingContext(context.Background(),
		metadata.Pairs("authorization", s.RootAPIKey(), "cache", DefaultCache)))
	defer cancel()

	out := make(chan event, 100)
	blocked, release := make(chan struct{}), make(chan struct{})
	send := func(m any) error {
		ev := decodeEvent(t, s, m)
		if ev.kind == "item" && ev.seq == 1 {
			close(blocked)
			<-release // the client stops reading while holding message 1
		}
		out <- ev
		return nil
	}
	req := dynamicpb.NewMessage(s.desc.subscribeReq)
	setString(req, "cache_name", DefaultCache)
	setString(req, "topic", "t")
	done := make(chan error, 1)
	go func() { done <- s.subscribe(ctx, req, send) }()
	require.Equal(t, event{kind: "heartbeat"}, <-out)

	publish := func(n int) {
		for range n {
			pr := dynamicpb.NewMessage(s.desc.publishReq)
			setString(pr, "cache_name", DefaultCache)
			setString(pr, "topic", "t")
			v := dynamicpb.NewMessage(s.desc.topicValue)
			v.Set(v.Descriptor().Fields().ByName("text"), protoreflect.ValueOfString("x"))
			setMessage(pr, "value", v)
			_, err := s.publish(ctx, pr)
			require.NoError(t, err)
		}
	}
	publish(1)
	<-blocked
	publish(30) // 2..31: 2..5 fit in the buffer, 6..31 are dropped
	sub := onlySubscriber(t, s, "t")
	assert.Len(t, sub.ch, buffer, "the queue never grows past its bound")
	close(release)
	for seq := uint64(1); seq <= 1+buffer; seq++ {
		assert.Equal(t, event{kind: "item", seq: seq}, <-out)
	}
	publish(1) // 32
	assert.Equal(t, event{kind: "discontinuity", last: 1 + buffer, next: 31}, <-out, "items resume after 31")
	assert.Equal(t, event{kind: "item", seq: 32}, <-out)

	cancel()
	require.Error(t, <-done)
}

func onlySubscriber(t *testing.T, s *Server, name string) *subscriber {
	t.Helper()
	tp := s.topics.get(DefaultCache, name)
	tp.mu.Lock()
	defer tp.mu.Unlock()
	require.Len(t, tp.subs, 1)
	for sub := range tp.subs {
		return sub
	}
	return nil
}
