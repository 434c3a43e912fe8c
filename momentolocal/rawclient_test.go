package momentolocal_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// rawClient is a plain grpc-go client speaking Momento's protocol with
// dynamicpb messages built from the descriptors the SDK registers. Tests
// use it where the official SDK cannot be used (under -race for topics, see
// TestGoSDKTopics) or cannot show a detail (fault injection on the wire).
type rawClient struct {
	conn *grpc.ClientConn
	key  string
}

func newRawClient(t testing.TB, addr, apiKey string) *rawClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return &rawClient{conn: conn, key: apiKey}
}

func msgDesc(t testing.TB, name string) protoreflect.MessageDescriptor {
	t.Helper()
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
	require.NoError(t, err)
	return d.(protoreflect.MessageDescriptor)
}

func (c *rawClient) ctx(ctx context.Context, cache string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", c.key, "cache", cache)
}

// newMsg builds a dynamic message and sets its scalar fields.
func newMsg(t testing.TB, name string, fields map[string]any) *dynamicpb.Message {
	t.Helper()
	m := dynamicpb.NewMessage(msgDesc(t, name))
	for k, v := range fields {
		fd := m.Descriptor().Fields().ByName(protoreflect.Name(k))
		require.NotNil(t, fd, "field %s.%s", name, k)
		m.Set(fd, protoreflect.ValueOf(v))
	}
	return m
}

func textValue(t testing.TB, s string) *dynamicpb.Message {
	return newMsg(t, "cache_client.pubsub._TopicValue", map[string]any{"text": s})
}

func (c *rawClient) publish(t testing.TB, ctx context.Context, cache, topic, text string) error {
	req := newMsg(t, "cache_client.pubsub._PublishRequest", map[string]any{"cache_name": cache, "topic": topic})
	req.Set(req.Descriptor().Fields().ByName("value"), protoreflect.ValueOfMessage(textValue(t, text)))
	resp := dynamicpb.NewMessage(msgDesc(t, "common._Empty"))
	return c.conn.Invoke(c.ctx(ctx, cache), "/cache_client.pubsub.Pubsub/Publish", req, resp)
}

// rawSub is an open Subscribe stream.
type rawSub struct {
	stream grpc.ClientStream
	item   protoreflect.MessageDescriptor
}

func (c *rawClient) subscribe(t testing.TB, ctx context.Context, cache, topic string, resumeAt, page uint64) (*rawSub, error) {
	req := newMsg(t, "cache_client.pubsub._SubscriptionRequest", map[string]any{
		"cache_name": cache, "topic": topic, "resume_at_topic_sequence_number": resumeAt, "sequence_page": page})
	st, err := c.conn.NewStream(c.ctx(ctx, cache), &grpc.StreamDesc{StreamName: "Subscribe", ServerStreams: true},
		"/cache_client.pubsub.Pubsub/Subscribe")
	if err != nil {
		return nil, err
	}
	if err := st.SendMsg(req); err != nil {
		return nil, err
	}
	if err := st.CloseSend(); err != nil {
		return nil, err
	}
	return &rawSub{stream: st, item: msgDesc(t, "cache_client.pubsub._SubscriptionItem")}, nil
}

// subEvent is a decoded _SubscriptionItem.
type subEvent struct {
	kind        string // "item", "heartbeat" or "discontinuity"
	seq, page   uint64
	text        string
	publisherID string
	last, next  uint64 // discontinuity
}

func (s *rawSub) recv() (subEvent, error) {
	m := dynamicpb.NewMessage(s.item)
	if err := s.stream.RecvMsg(m); err != nil {
		return subEvent{}, err
	}
	return decodeSubscriptionItem(m), nil
}

func decodeSubscriptionItem(m protoreflect.Message) subEvent {
	get := func(m protoreflect.Message, name string) protoreflect.Value {
		return m.Get(m.Descriptor().Fields().ByName(protoreflect.Name(name)))
	}
	od := m.Descriptor().Oneofs().ByName("kind")
	fd := m.WhichOneof(od)
	if fd == nil {
		return subEvent{}
	}
	ev := subEvent{kind: string(fd.Name())}
	sub := m.Get(fd).Message()
	switch ev.kind {
	case "item":
		ev.seq = get(sub, "topic_sequence_number").Uint()
		ev.page = get(sub, "sequence_page").Uint()
		ev.publisherID = get(sub, "publisher_id").String()
		ev.text = get(get(sub, "value").Message(), "text").String()
	case "discontinuity":
		ev.last = get(sub, "last_topic_sequence").Uint()
		ev.next = get(sub, "new_topic_sequence").Uint()
		ev.page = get(sub, "new_sequence_page").Uint()
	}
	return ev
}

// get calls /cache_client.Scs/Get and returns the gRPC error.
func (c *rawClient) get(t testing.TB, ctx context.Context, cache, key string) error {
	req := newMsg(t, "cache_client._GetRequest", map[string]any{"cache_key": []byte(key)})
	return c.conn.Invoke(c.ctx(ctx, cache), "/cache_client.Scs/Get", req, dynamicpb.NewMessage(msgDesc(t, "cache_client._GetResponse")))
}
