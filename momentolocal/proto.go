package momentolocal

import (
	"context"
	"fmt"
	"strings"

	// The official Go SDK registers Momento's protocol descriptors
	// (token.proto, cachepubsub.proto, cacheclient.proto, ...) in
	// protoregistry.GlobalFiles when its momento package is linked in. The
	// emulator builds every message from those descriptors with dynamicpb, so
	// it speaks exactly the wire protocol of the SDK version in go.mod without
	// copying generated code or .proto files.
	_ "github.com/momentohq/client-sdk-go/momento"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Full names of the methods whose names other code refers to.
const (
	methodGenerateDisposableToken = "/token.Token/GenerateDisposableToken"
	methodSubscribe               = "/cache_client.pubsub.Pubsub/Subscribe"
)

// unaryFunc handles one unary call. req is a dynamicpb message of the
// method's input type; the result must be of its output type.
type unaryFunc func(ctx context.Context, req *dynamicpb.Message) (proto.Message, error)

// streamFunc handles one server-streaming call; send writes one message of
// the method's output type to the client, as a proto.Message or an
// *encodedMessage.
type streamFunc func(ctx context.Context, req *dynamicpb.Message, send func(any) error) error

// method is one RPC of the emulator, shared by the native gRPC and the
// gRPC-Web transports so that both run exactly the same code.
type method struct {
	fullName string // "/package.Service/Method"
	in, out  protoreflect.MessageDescriptor
	unary    unaryFunc  // set for unary methods
	stream   streamFunc // set for server-streaming methods
}

// descriptors holds the message descriptors the emulator uses, looked up
// from the SDK's registered files. The ones used on hot paths have fields;
// the others are found by name.
type descriptors struct {
	byName map[string]protoreflect.MessageDescriptor
	err    error // the first lookup failure

	// token.proto
	genTokenResp protoreflect.MessageDescriptor
	// cachepubsub.proto
	publishReq, subscribeReq, subscriptionItem, topicItem, topicValue,
	discontinuity, heartbeat protoreflect.MessageDescriptor
	// common.proto
	empty protoreflect.MessageDescriptor
	// cacheclient.proto
	cacheResult protoreflect.EnumDescriptor
}

// msg returns the message descriptor named name, recording a failure in
// d.err (a different SDK version than the emulator was written against).
func (d *descriptors) msg(name string) protoreflect.MessageDescriptor {
	if md, ok := d.byName[name]; ok {
		return md
	}
	desc, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		if d.err == nil {
			d.err = fmt.Errorf("momentolocal: descriptor %s not registered by the Momento SDK: %w", name, err)
		}
		return nil
	}
	md, ok := desc.(protoreflect.MessageDescriptor)
	if !ok {
		if d.err == nil {
			d.err = fmt.Errorf("momentolocal: %s is not a message", name)
		}
		return nil
	}
	d.byName[name] = md
	return md
}

// newMsg returns a new message of a type looked up before Start returned
// (every method's input and output). After Start, byName is read-only.
func (d *descriptors) newMsg(name string) *dynamicpb.Message {
	md, ok := d.byName[name]
	if !ok {
		panic("momentolocal: message " + name + " was not loaded at start")
	}
	return dynamicpb.NewMessage(md)
}

// loadDescriptors finds the descriptors the emulator needs on hot paths.
// Start also looks up every method's messages and fails if any is missing.
func loadDescriptors() (*descriptors, error) {
	d := &descriptors{byName: map[string]protoreflect.MessageDescriptor{}}
	d.genTokenResp = d.msg("token._GenerateDisposableTokenResponse")
	d.publishReq = d.msg("cache_client.pubsub._PublishRequest")
	d.subscribeReq = d.msg("cache_client.pubsub._SubscriptionRequest")
	d.subscriptionItem = d.msg("cache_client.pubsub._SubscriptionItem")
	d.topicItem = d.msg("cache_client.pubsub._TopicItem")
	d.topicValue = d.msg("cache_client.pubsub._TopicValue")
	d.discontinuity = d.msg("cache_client.pubsub._Discontinuity")
	d.heartbeat = d.msg("cache_client.pubsub._Heartbeat")
	d.empty = d.msg("common._Empty")
	if d.err != nil {
		return nil, d.err
	}
	ed, err := protoregistry.GlobalFiles.FindDescriptorByName("cache_client.ECacheResult")
	if err != nil {
		return nil, fmt.Errorf("momentolocal: enum cache_client.ECacheResult not registered: %w", err)
	}
	enum, ok := ed.(protoreflect.EnumDescriptor)
	if !ok {
		return nil, fmt.Errorf("momentolocal: cache_client.ECacheResult is not an enum")
	}
	d.cacheResult = enum
	return d, nil
}

// serviceDescs builds hand-written grpc.ServiceDescs for methods, grouped by
// service. Every handler decodes into a dynamicpb message and calls back into
// call/callStream so the emulator applies faults and logging in one place.
func serviceDescs(methods []*method, call func(ctx context.Context, m *method, req *dynamicpb.Message) (proto.Message, error),
	callStream func(ctx context.Context, m *method, req *dynamicpb.Message, send func(any) error) error,
) []*grpc.ServiceDesc {
	byService := map[string]*grpc.ServiceDesc{}
	var order []string
	for _, m := range methods {
		svc, name := splitMethod(m.fullName)
		sd, ok := byService[svc]
		if !ok {
			sd = &grpc.ServiceDesc{
				ServiceName: svc,
				HandlerType: (*any)(nil),
				Metadata:    string(m.in.ParentFile().Path()),
			}
			byService[svc] = sd
			order = append(order, svc)
		}
		switch {
		case m.unary != nil:
			sd.Methods = append(sd.Methods, grpc.MethodDesc{
				MethodName: name,
				Handler: func(_ any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
					req := dynamicpb.NewMessage(m.in)
					if err := dec(req); err != nil {
						return nil, err
					}
					handler := func(ctx context.Context, r any) (any, error) {
						return call(ctx, m, r.(*dynamicpb.Message))
					}
					if interceptor == nil {
						return handler(ctx, req)
					}
					return interceptor(ctx, req, &grpc.UnaryServerInfo{FullMethod: m.fullName}, handler)
				},
			})
		case m.stream != nil:
			sd.Streams = append(sd.Streams, grpc.StreamDesc{
				StreamName:    name,
				ServerStreams: true,
				Handler: func(_ any, stream grpc.ServerStream) error {
					req := dynamicpb.NewMessage(m.in)
					if err := stream.RecvMsg(req); err != nil {
						return err
					}
					return callStream(stream.Context(), m, req, stream.SendMsg)
				},
			})
		}
	}
	out := make([]*grpc.ServiceDesc, 0, len(order))
	for _, svc := range order {
		out = append(out, byService[svc])
	}
	return out
}

// splitMethod splits "/pkg.Service/Method" into "pkg.Service" and "Method".
func splitMethod(full string) (service, name string) {
	s := strings.TrimPrefix(full, "/")
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i+1:]
}

// Field access helpers for dynamicpb messages. They panic only on a
// programming error (a field name absent from the descriptor), never on
// client input.

func field(m protoreflect.Message, name string) protoreflect.FieldDescriptor {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		panic(fmt.Sprintf("momentolocal: message %s has no field %q", m.Descriptor().FullName(), name))
	}
	return fd
}

func getString(m protoreflect.Message, name string) string { return m.Get(field(m, name)).String() }
func getBytes(m protoreflect.Message, name string) []byte  { return m.Get(field(m, name)).Bytes() }
func getUint(m protoreflect.Message, name string) uint64   { return m.Get(field(m, name)).Uint() }
func getInt(m protoreflect.Message, name string) int64     { return m.Get(field(m, name)).Int() }

// getMessage returns the sub-message in field name, or nil when unset.
func getMessage(m protoreflect.Message, name string) protoreflect.Message {
	fd := field(m, name)
	if !m.Has(fd) {
		return nil
	}
	return m.Get(fd).Message()
}

// whichOneof returns the name of the field set in oneof group, or "".
func whichOneof(m protoreflect.Message, group string) string {
	od := m.Descriptor().Oneofs().ByName(protoreflect.Name(group))
	if od == nil {
		panic(fmt.Sprintf("momentolocal: message %s has no oneof %q", m.Descriptor().FullName(), group))
	}
	fd := m.WhichOneof(od)
	if fd == nil {
		return ""
	}
	return string(fd.Name())
}

func setString(m protoreflect.Message, name, v string) {
	m.Set(field(m, name), protoreflect.ValueOfString(v))
}
func setBytes(m protoreflect.Message, name string, v []byte) {
	m.Set(field(m, name), protoreflect.ValueOfBytes(v))
}
func setUint(m protoreflect.Message, name string, v uint64) {
	m.Set(field(m, name), protoreflect.ValueOfUint64(v))
}
func setUint32(m protoreflect.Message, name string, v uint32) {
	m.Set(field(m, name), protoreflect.ValueOfUint32(v))
}
func setInt(m protoreflect.Message, name string, v int64) {
	m.Set(field(m, name), protoreflect.ValueOfInt64(v))
}
func setMessage(m protoreflect.Message, name string, v protoreflect.Message) {
	m.Set(field(m, name), protoreflect.ValueOfMessage(v))
}

// setNew sets field name of m to a new empty message of its type and
// returns it (for oneof results such as _SetIfResponse.stored).
func setNew(m protoreflect.Message, name string) protoreflect.Message {
	fd := field(m, name)
	v := dynamicpb.NewMessage(fd.Message())
	m.Set(fd, protoreflect.ValueOfMessage(v))
	return v
}

func setEnum(m protoreflect.Message, name string, ed protoreflect.EnumDescriptor, value string) {
	ev := ed.Values().ByName(protoreflect.Name(value))
	if ev == nil {
		panic(fmt.Sprintf("momentolocal: enum %s has no value %q", ed.FullName(), value))
	}
	m.Set(field(m, name), protoreflect.ValueOfEnum(ev.Number()))
}
