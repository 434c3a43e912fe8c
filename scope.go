package tvm

// Role is the kind of access a Permission gives. Topic roles and cache roles
// are distinct; a Permission's role decides whether it is a topic permission
// or a cache permission.
type Role string

// Topic roles.
const (
	// PublishSubscribe lets the token publish and subscribe to topics.
	PublishSubscribe Role = "publishsubscribe"
	// SubscribeOnly lets the token subscribe to topics, not publish.
	SubscribeOnly Role = "subscribeonly"
	// PublishOnly lets the token publish to topics, not subscribe.
	PublishOnly Role = "publishonly"
)

// Cache roles.
const (
	// ReadWrite lets the token read and write cache items.
	ReadWrite Role = "readwrite"
	// ReadOnly lets the token read cache items.
	ReadOnly Role = "readonly"
	// WriteOnly lets the token write cache items.
	WriteOnly Role = "writeonly"
)

// All is the wildcard for Permission.Cache and Permission.Topic: every cache
// or every topic.
const All = "*"

// AllCaches selects every cache.
const AllCaches = All

// TopicSelector selects the topics a topic permission covers: all topics,
// one topic by name, or every topic whose name starts with a prefix.
type TopicSelector struct {
	name, prefix string
	all          bool
}

// AllTopics selects every topic.
var AllTopics = TopicSelector{all: true}

// Topic selects one topic by name.
func Topic(name string) TopicSelector { return TopicSelector{name: name} }

// TopicNamePrefix selects every topic whose name starts with prefix.
func TopicNamePrefix(prefix string) TopicSelector { return TopicSelector{prefix: prefix} }

// Permission is one Momento permission: a topic permission when Role is a
// topic role, a cache permission when it is a cache role. Cache is a cache
// name or All. For topic permissions exactly one of Topic (a name or All) and
// TopicPrefix is set; for cache permissions at most one of Key and KeyPrefix
// is set (none means all items).
//
// Any string field may be a template such as "user-{sub}" or "{sub}/",
// filled only from the verified identity's claims (see Scope.Expand).
type Permission struct {
	Role        Role   `json:"role" yaml:"role"`
	Cache       string `json:"cache" yaml:"cache"`
	Topic       string `json:"topic,omitempty" yaml:"topic,omitempty"`
	TopicPrefix string `json:"topicPrefix,omitempty" yaml:"topicPrefix,omitempty"`
	Key         string `json:"key,omitempty" yaml:"key,omitempty"`
	KeyPrefix   string `json:"keyPrefix,omitempty" yaml:"keyPrefix,omitempty"`
}

// Scope is the set of permissions a vended token carries.
type Scope struct {
	Permissions []Permission `json:"permissions" yaml:"permissions"`
}

// NewScope returns a scope with the given permissions.
func NewScope(perms ...Permission) Scope { return Scope{Permissions: perms} }

func topicPermission(role Role, cache string, topic TopicSelector) Permission {
	p := Permission{Role: role, Cache: cache}
	switch {
	case topic.all:
		p.Topic = All
	case topic.prefix != "":
		p.TopicPrefix = topic.prefix
	default:
		p.Topic = topic.name
	}
	return p
}

// TopicPublishSubscribe permits publishing and subscribing to the selected
// topics of cache (a name or AllCaches).
func TopicPublishSubscribe(cache string, topic TopicSelector) Permission {
	return topicPermission(PublishSubscribe, cache, topic)
}

// TopicSubscribeOnly permits subscribing to the selected topics of cache.
func TopicSubscribeOnly(cache string, topic TopicSelector) Permission {
	return topicPermission(SubscribeOnly, cache, topic)
}

// TopicPublishOnly permits publishing to the selected topics of cache.
func TopicPublishOnly(cache string, topic TopicSelector) Permission {
	return topicPermission(PublishOnly, cache, topic)
}

// CacheReadWrite permits reading and writing every item of cache.
func CacheReadWrite(cache string) Permission { return Permission{Role: ReadWrite, Cache: cache} }

// CacheReadOnly permits reading every item of cache.
func CacheReadOnly(cache string) Permission { return Permission{Role: ReadOnly, Cache: cache} }

// CacheWriteOnly permits writing every item of cache.
func CacheWriteOnly(cache string) Permission { return Permission{Role: WriteOnly, Cache: cache} }

// CacheKeyReadWrite permits reading and writing one key of cache.
func CacheKeyReadWrite(cache, key string) Permission {
	return Permission{Role: ReadWrite, Cache: cache, Key: key}
}

// CacheKeyReadOnly permits reading one key of cache.
func CacheKeyReadOnly(cache, key string) Permission {
	return Permission{Role: ReadOnly, Cache: cache, Key: key}
}

// CacheKeyWriteOnly permits writing one key of cache.
func CacheKeyWriteOnly(cache, key string) Permission {
	return Permission{Role: WriteOnly, Cache: cache, Key: key}
}

// CacheKeyPrefixReadWrite permits reading and writing the keys of cache that
// start with prefix.
func CacheKeyPrefixReadWrite(cache, prefix string) Permission {
	return Permission{Role: ReadWrite, Cache: cache, KeyPrefix: prefix}
}

// CacheKeyPrefixReadOnly permits reading the keys of cache that start with
// prefix.
func CacheKeyPrefixReadOnly(cache, prefix string) Permission {
	return Permission{Role: ReadOnly, Cache: cache, KeyPrefix: prefix}
}

// CacheKeyPrefixWriteOnly permits writing the keys of cache that start with
// prefix.
func CacheKeyPrefixWriteOnly(cache, prefix string) Permission {
	return Permission{Role: WriteOnly, Cache: cache, KeyPrefix: prefix}
}
