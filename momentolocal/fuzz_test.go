package momentolocal

import (
	"bytes"
	"encoding/base64"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// FuzzPermissionsFromProto feeds arbitrary GenerateDisposableToken request
// bytes to the permission decoder: it must never panic, and whatever it
// accepts must be well formed and grant nothing beyond its own selectors.
func FuzzPermissionsFromProto(f *testing.F) {
	d, err := loadDescriptors()
	if err != nil {
		f.Fatal(err)
	}
	// Seeds: a valid request with one permission of each kind.
	req := dynamicpb.NewMessage(d.msg("token._GenerateDisposableTokenRequest"))
	perms := getMessageOrNew(req, "permissions")
	explicit := getMessageOrNew(perms, "explicit")
	list := explicit.Mutable(field(explicit, "permissions")).List()
	pt := list.NewElement().Message()
	tp := getMessageOrNew(pt, "topic_permissions")
	tp.Set(field(tp, "role"), protoreflect.ValueOfEnum(1))
	getMessageOrNew(tp, "all_caches")
	sel := getMessageOrNew(tp, "topic_selector")
	setString(sel, "topic_name_prefix", "room-")
	list.Append(protoreflect.ValueOfMessage(pt))
	pc := list.NewElement().Message()
	cp := getMessageOrNew(pc, "cache_permissions")
	cp.Set(field(cp, "role"), protoreflect.ValueOfEnum(2))
	setString(getMessageOrNew(cp, "cache_selector"), "cache_name", "c1")
	setBytes(getMessageOrNew(cp, "item_selector"), "key", []byte("k"))
	list.Append(protoreflect.ValueOfMessage(pc))
	seed, err := proto.Marshal(req)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte{})
	f.Add([]byte{0x1a, 0x02, 0x08, 0x00}) // permissions{super_user}

	f.Fuzz(func(t *testing.T, b []byte) {
		m := dynamicpb.NewMessage(d.msg("token._GenerateDisposableTokenRequest"))
		if proto.Unmarshal(b, m) != nil {
			return
		}
		ps, err := permissionsFromProto(getMessage(m, "permissions"))
		if err != nil {
			return
		}
		if len(ps) == 0 {
			t.Fatal("accepted an empty permission list")
		}
		for _, p := range ps {
			if err := p.validate(); err != nil {
				t.Fatalf("accepted a malformed permission %#v: %v", p, err)
			}
			// A permission never covers an operation of the other kind.
			if isTopicRole(p.Role) && Allows([]Permission{p}, Request{Op: OpRead, Cache: "c1", Key: "k"}) {
				t.Fatalf("topic permission %v allows a cache read", p)
			}
			if isCacheRole(p.Role) && Allows([]Permission{p}, Request{Op: OpPublish, Cache: "c1", Topic: "t"}) {
				t.Fatalf("cache permission %v allows a publish", p)
			}
		}
	})
}

// getMessageOrNew returns the sub-message in field name, creating it.
func getMessageOrNew(m protoreflect.Message, name string) protoreflect.Message {
	return m.Mutable(field(m, name)).Message()
}

// FuzzDecodeWebText checks the gRPC-Web text decoder against the standard
// base64 decoder on arbitrary input, including concatenated padded chunks.
func FuzzDecodeWebText(f *testing.F) {
	f.Add([]byte("AAAAAAIaAA=="))
	f.Add([]byte("AAAAAAIaAA==AAAAAAIaAA=="))
	f.Add([]byte("!!!!"))
	f.Add([]byte("QQ"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := decodeWebText(b)
		if err != nil {
			return
		}
		// Re-encoding chunk by chunk must give back the input without
		// whitespace; a plain base64 input must decode as base64 does.
		clean := bytes.Join(bytes.Fields(b), nil)
		if std, err := base64.StdEncoding.DecodeString(string(clean)); err == nil && !bytes.Equal(std, out) {
			t.Fatalf("decodeWebText(%q) = %x, base64 gives %x", b, out, std)
		}
	})
}

// FuzzVerifyKey presents arbitrary api keys: none may be accepted except the
// keys the emulator signed, and none may panic.
func FuzzVerifyKey(f *testing.F) {
	s, err := Start(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	root := s.RootAPIKey()
	f.Add(root)
	f.Add(root[:len(root)-1] + "A")
	f.Add("eyJhbGciOiJub25lIn0.eyJrbmQiOiJyb290IiwiaXNzIjoibW9tZW50b2xvY2FsIn0.")
	f.Add("")
	f.Fuzz(func(t *testing.T, key string) {
		p, err := s.verifyKey(key)
		if err != nil {
			return
		}
		// Only keys signed with the server's random secret are accepted,
		// each with a single spelling (strict base64): the fuzzer can
		// only find the root key itself.
		if key != root || !p.root {
			t.Fatalf("accepted a key the emulator did not sign: %q", key)
		}
	})
}
