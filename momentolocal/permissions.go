package momentolocal

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Roles, with the same strings as package tvm. A Permission's role decides
// whether it is a topic permission or a cache permission.
const (
	// RolePublishSubscribe lets a token publish and subscribe to topics.
	RolePublishSubscribe = "publishsubscribe"
	// RoleSubscribeOnly lets a token subscribe to topics, not publish.
	RoleSubscribeOnly = "subscribeonly"
	// RolePublishOnly lets a token publish to topics, not subscribe.
	RolePublishOnly = "publishonly"
	// RoleReadWrite lets a token read and write cache items.
	RoleReadWrite = "readwrite"
	// RoleReadOnly lets a token read cache items.
	RoleReadOnly = "readonly"
	// RoleWriteOnly lets a token write cache items.
	RoleWriteOnly = "writeonly"
)

// All is the wildcard of Permission.Cache and Permission.Topic: every cache
// or every topic.
const All = "*"

// Permission is one permission of a disposable token as the emulator
// received it, in the vocabulary of package tvm.
//
// A topic permission (role publishsubscribe, subscribeonly or publishonly)
// has Cache ("*" or a name) and either Topic ("*" or a name) or
// TopicPrefix. A cache permission (role readwrite, readonly or writeonly)
// has Cache and at most one of Key and KeyPrefix (neither: all items).
type Permission struct {
	Role        string `json:"role"`
	Cache       string `json:"cache"`
	Topic       string `json:"topic,omitempty"`
	TopicPrefix string `json:"topicPrefix,omitempty"`
	Key         string `json:"key,omitempty"`
	KeyPrefix   string `json:"keyPrefix,omitempty"`
}

// String returns a compact description such as
// "publishsubscribe cache=default-cache topic=*".
func (p Permission) String() string {
	var b strings.Builder
	b.WriteString(p.Role)
	b.WriteString(" cache=")
	b.WriteString(p.Cache)
	switch {
	case p.TopicPrefix != "":
		fmt.Fprintf(&b, " topicPrefix=%s", p.TopicPrefix)
	case p.Topic != "":
		fmt.Fprintf(&b, " topic=%s", p.Topic)
	case p.KeyPrefix != "":
		fmt.Fprintf(&b, " keyPrefix=%q", p.KeyPrefix)
	case p.Key != "":
		fmt.Fprintf(&b, " key=%q", p.Key)
	}
	return b.String()
}

// isTopicRole reports whether role is one of the topic roles.
func isTopicRole(role string) bool {
	return role == RolePublishSubscribe || role == RoleSubscribeOnly || role == RolePublishOnly
}

// isCacheRole reports whether role is one of the cache roles.
func isCacheRole(role string) bool {
	return role == RoleReadWrite || role == RoleReadOnly || role == RoleWriteOnly
}

// validate checks that p is well formed (what GenerateDisposableToken
// accepts). It never trusts a permission that would be ambiguous.
func (p Permission) validate() error {
	if p.Cache == "" {
		return errors.New("cache selector is required")
	}
	switch {
	case isTopicRole(p.Role):
		if p.Key != "" || p.KeyPrefix != "" {
			return errors.New("a topic permission cannot select cache items")
		}
		if (p.Topic == "") == (p.TopicPrefix == "") {
			return errors.New("a topic permission needs exactly one topic selector")
		}
	case isCacheRole(p.Role):
		if p.Topic != "" || p.TopicPrefix != "" {
			return errors.New("a cache permission cannot select topics")
		}
		if p.Key != "" && p.KeyPrefix != "" {
			return errors.New("a cache permission has at most one item selector")
		}
	default:
		return fmt.Errorf("unknown role %q", p.Role)
	}
	return nil
}

// Operation is a data-plane action that a token's permissions must cover.
type Operation int

// Data-plane operations.
const (
	// OpPublish publishes to a topic.
	OpPublish Operation = iota + 1
	// OpSubscribe subscribes to a topic.
	OpSubscribe
	// OpRead reads cache items (Get, GetBatch, KeysExist, ItemGetTtl).
	OpRead
	// OpWrite writes cache items (Set, SetBatch, SetIf, Delete, Increment,
	// UpdateTtl).
	OpWrite
)

// String names the operation.
func (o Operation) String() string {
	switch o {
	case OpPublish:
		return "publish"
	case OpSubscribe:
		return "subscribe"
	case OpRead:
		return "read"
	case OpWrite:
		return "write"
	}
	return fmt.Sprintf("Operation(%d)", int(o))
}

// Request is what one data-plane call touches: a topic of a cache, or a
// key of a cache.
type Request struct {
	Op    Operation
	Cache string
	Topic string // for OpPublish and OpSubscribe
	Key   string // for OpRead and OpWrite (raw bytes of the key)
}

// Allows reports whether any of perms covers r. This is the single place
// where the emulator decides authorization; Momento's rules are:
//
//   - topic permissions cover only topic operations, cache permissions only
//     cache operations;
//   - publishsubscribe covers publish and subscribe, subscribeonly only
//     subscribe, publishonly only publish; readwrite covers read and write,
//     readonly only read, writeonly only write;
//   - the cache selector is "*" (every cache) or one exact name;
//   - the topic selector is "*" (every topic), one exact name, or a prefix;
//   - the item selector is all items, one exact key, or a key prefix.
func Allows(perms []Permission, r Request) bool {
	for _, p := range perms {
		if permissionAllows(p, r) {
			return true
		}
	}
	return false
}

func permissionAllows(p Permission, r Request) bool {
	if p.validate() != nil {
		return false // never let a malformed permission grant anything
	}
	if p.Cache != All && p.Cache != r.Cache {
		return false
	}
	switch r.Op {
	case OpPublish, OpSubscribe:
		if !isTopicRole(p.Role) {
			return false
		}
		if r.Op == OpPublish && p.Role == RoleSubscribeOnly {
			return false
		}
		if r.Op == OpSubscribe && p.Role == RolePublishOnly {
			return false
		}
		switch {
		case p.TopicPrefix != "":
			return strings.HasPrefix(r.Topic, p.TopicPrefix)
		case p.Topic == All:
			return true
		default:
			return p.Topic == r.Topic
		}
	case OpRead, OpWrite:
		if !isCacheRole(p.Role) {
			return false
		}
		if r.Op == OpRead && p.Role == RoleWriteOnly {
			return false
		}
		if r.Op == OpWrite && p.Role == RoleReadOnly {
			return false
		}
		switch {
		case p.KeyPrefix != "":
			return strings.HasPrefix(r.Key, p.KeyPrefix)
		case p.Key != "":
			return p.Key == r.Key
		default:
			return true
		}
	}
	return false
}

// permissionsFromProto converts a permission_messages.Permissions message
// (explicit permissions only) into Permissions, rejecting anything that is
// not a well-formed disposable-token permission.
func permissionsFromProto(m protoreflect.Message) ([]Permission, error) {
	if m == nil {
		return nil, errors.New("permissions are required")
	}
	switch whichOneof(m, "kind") {
	case "explicit":
	case "super_user":
		return nil, errors.New("a disposable token cannot have super-user permissions")
	default:
		return nil, errors.New("permissions are required")
	}
	list := getMessage(m, "explicit").Get(field(getMessage(m, "explicit"), "permissions")).List()
	if list.Len() == 0 {
		return nil, errors.New("at least one permission is required")
	}
	if list.Len() > maxTokenPermissions {
		return nil, fmt.Errorf("a disposable token may have at most %d permissions, not %d", maxTokenPermissions, list.Len())
	}
	out := make([]Permission, 0, list.Len())
	seen := make(map[string]int, list.Len())
	for i := 0; i < list.Len(); i++ {
		p, err := permissionFromProto(list.Get(i).Message())
		if err != nil {
			return nil, fmt.Errorf("permission %d: %w", i, err)
		}
		sel := p.selector()
		if j, dup := seen[sel]; dup {
			return nil, fmt.Errorf("permissions %d and %d select the same resources (duplicate or conflicting)", j, i)
		}
		seen[sel] = i
		out = append(out, p)
	}
	return out, nil
}

// selector identifies what p selects, whatever its role: two permissions
// of a token with the same selector are duplicates (same role) or
// conflicts (different roles), which Momento refuses.
func (p Permission) selector() string {
	kind := "cache"
	if isTopicRole(p.Role) {
		kind = "topic"
	}
	// The lengths keep the encoding unambiguous for any bytes.
	return fmt.Sprintf("%s|%d:%s|%d:%s|%d:%s|%d:%s|%d:%s", kind, len(p.Cache), p.Cache,
		len(p.Topic), p.Topic, len(p.TopicPrefix), p.TopicPrefix, len(p.Key), p.Key, len(p.KeyPrefix), p.KeyPrefix)
}

// permissionFromProto converts one permission_messages.PermissionsType.
func permissionFromProto(m protoreflect.Message) (Permission, error) {
	var p Permission
	switch whichOneof(m, "kind") {
	case "topic_permissions":
		tp := getMessage(m, "topic_permissions")
		role, err := enumName(tp, "role")
		if err != nil {
			return p, err
		}
		switch role {
		case "TopicReadWrite":
			p.Role = RolePublishSubscribe
		case "TopicReadOnly":
			p.Role = RoleSubscribeOnly
		case "TopicWriteOnly":
			p.Role = RolePublishOnly
		default:
			return p, fmt.Errorf("invalid topic role %s", role)
		}
		if p.Cache, err = cacheFromProto(tp); err != nil {
			return p, err
		}
		switch whichOneof(tp, "topic") {
		case "all_topics":
			p.Topic = All
		case "topic_selector":
			sel := getMessage(tp, "topic_selector")
			switch whichOneof(sel, "kind") {
			case "topic_name":
				p.Topic = getString(sel, "topic_name")
				if p.Topic == "" || p.Topic == All {
					return p, errors.New("invalid topic name")
				}
			case "topic_name_prefix":
				p.TopicPrefix = getString(sel, "topic_name_prefix")
				if p.TopicPrefix == "" {
					return p, errors.New("empty topic name prefix")
				}
			default:
				return p, errors.New("topic selector is required")
			}
		default:
			return p, errors.New("topic selector is required")
		}
	case "cache_permissions":
		cp := getMessage(m, "cache_permissions")
		role, err := enumName(cp, "role")
		if err != nil {
			return p, err
		}
		switch role {
		case "CacheReadWrite":
			p.Role = RoleReadWrite
		case "CacheReadOnly":
			p.Role = RoleReadOnly
		case "CacheWriteOnly":
			p.Role = RoleWriteOnly
		default:
			return p, fmt.Errorf("invalid cache role %s", role)
		}
		if p.Cache, err = cacheFromProto(cp); err != nil {
			return p, err
		}
		switch whichOneof(cp, "cache_item") {
		case "all_items", "":
			// The SDKs leave the item selector unset for "all items".
		case "item_selector":
			sel := getMessage(cp, "item_selector")
			switch whichOneof(sel, "kind") {
			case "key":
				p.Key = string(getBytes(sel, "key"))
				if p.Key == "" {
					return p, errors.New("empty key")
				}
			case "key_prefix":
				p.KeyPrefix = string(getBytes(sel, "key_prefix"))
				if p.KeyPrefix == "" {
					return p, errors.New("empty key prefix")
				}
			default:
				return p, errors.New("item selector is required")
			}
		}
	default:
		return p, errors.New("permission kind is required")
	}
	return p, p.validate()
}

// cacheFromProto reads the cache oneof of a topic or cache permission.
func cacheFromProto(m protoreflect.Message) (string, error) {
	switch whichOneof(m, "cache") {
	case "all_caches":
		return All, nil
	case "cache_selector":
		sel := getMessage(m, "cache_selector")
		if whichOneof(sel, "kind") != "cache_name" {
			return "", errors.New("cache selector is required")
		}
		name := getString(sel, "cache_name")
		if name == "" || name == All {
			return "", errors.New("invalid cache name")
		}
		return name, nil
	}
	return "", errors.New("cache selector is required")
}

// enumName returns the name of the enum value in field name.
func enumName(m protoreflect.Message, name string) (string, error) {
	fd := field(m, name)
	ev := fd.Enum().Values().ByNumber(m.Get(fd).Enum())
	if ev == nil {
		return "", fmt.Errorf("unknown %s value %d", name, m.Get(fd).Enum())
	}
	return string(ev.Name()), nil
}
