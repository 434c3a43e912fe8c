package momentolocal

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	protoenc "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// encodedMessage is a message already in wire format. A published topic
// item is encoded once and the same bytes are sent to every subscriber,
// instead of encoding the same dynamicpb message once per subscriber.
type encodedMessage struct{ b []byte }

// encodeMessage marshals m once.
func encodeMessage(m proto.Message) (*encodedMessage, error) {
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("momentolocal: encoding %s: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	return &encodedMessage{b: b}, nil
}

// marshalOut returns the wire format of an outgoing message: a proto.Message
// or an *encodedMessage.
func marshalOut(v any) ([]byte, error) {
	switch m := v.(type) {
	case *encodedMessage:
		return m.b, nil
	case proto.Message:
		return proto.Marshal(m)
	}
	return nil, fmt.Errorf("momentolocal: cannot encode %T", v)
}

// serverCodec is the gRPC proto codec that also sends *encodedMessage bytes
// as they are. Incoming messages are decoded by the standard codec.
type serverCodec struct{ base encoding.CodecV2 }

func newServerCodec() serverCodec { return serverCodec{base: encoding.GetCodecV2(protoenc.Name)} }

// Marshal implements encoding.CodecV2.
func (c serverCodec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(*encodedMessage); ok {
		// SliceBuffer's Free is a no-op, so the shared bytes are never
		// recycled by gRPC; they are never written to either.
		return mem.BufferSlice{mem.SliceBuffer(m.b)}, nil
	}
	return c.base.Marshal(v)
}

// Unmarshal implements encoding.CodecV2.
func (c serverCodec) Unmarshal(data mem.BufferSlice, v any) error { return c.base.Unmarshal(data, v) }

// Name implements encoding.CodecV2.
func (c serverCodec) Name() string { return c.base.Name() }
