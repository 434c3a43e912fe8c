package momentolocal

import (
	"context"
	"math"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"
)

// sweepEvery is how many writes a cache accepts between sweeps of its
// expired items (reads drop expired items they meet).
const sweepEvery = 1024

// cacheStore is one cache's items.
type cacheStore struct {
	mu     sync.Mutex
	items  map[string]cacheItem
	writes int
}

type cacheItem struct {
	value   []byte
	expires time.Time
}

func newCacheStore() *cacheStore { return &cacheStore{items: map[string]cacheItem{}} }

// getLocked returns the live item under key, dropping it if it expired.
// c.mu must be held.
func (c *cacheStore) getLocked(key string, now time.Time) (cacheItem, bool) {
	it, ok := c.items[key]
	if !ok {
		return cacheItem{}, false
	}
	if !now.Before(it.expires) {
		delete(c.items, key)
		return cacheItem{}, false
	}
	return it, true
}

// get returns the live value of key.
func (c *cacheStore) get(key string, now time.Time) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, ok := c.getLocked(key, now)
	return it.value, ok
}

// setLocked stores value under key until now+ttl. c.mu must be held.
func (c *cacheStore) setLocked(key string, value []byte, now time.Time, ttl time.Duration) {
	c.items[key] = cacheItem{value: value, expires: now.Add(ttl)}
	c.writes++
	if c.writes%sweepEvery == 0 {
		for k, it := range c.items {
			if !now.Before(it.expires) {
				delete(c.items, k)
			}
		}
	}
}

// flush removes every item.
func (c *cacheStore) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.items)
}

// cacheAccess authenticates a data-plane cache call on the cache named in
// the "cache" metadata and checks that the caller may perform op on every
// key (PERMISSION_DENIED otherwise, for the whole call), then finds the
// cache (NOT_FOUND). Keys must not be empty.
func (s *Server) cacheAccess(ctx context.Context, op Operation, keys ...[]byte) (*cacheStore, error) {
	p, err := s.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	md, _ := metadata.FromIncomingContext(ctx)
	names := md.Get("cache")
	if len(names) != 1 || names[0] == "" {
		return nil, status.Error(codes.InvalidArgument, `the "cache" metadata must name the cache`)
	}
	cache := names[0]
	for _, k := range keys {
		if len(k) == 0 {
			return nil, status.Error(codes.InvalidArgument, "cache_key must not be empty")
		}
		if !p.allows(Request{Op: op, Cache: cache, Key: string(k)}) {
			return nil, status.Errorf(codes.PermissionDenied, "Insufficient permissions to %s this key of cache %q", op, cache)
		}
	}
	store := s.cache(cache)
	if store == nil {
		return nil, status.Errorf(codes.NotFound, "cache %q not found", cache)
	}
	return store, nil
}

// cacheRequest is cacheAccess for a request with one cache_key; it
// returns the key too.
func (s *Server) cacheRequest(ctx context.Context, req *dynamicpb.Message, op Operation) (*cacheStore, string, error) {
	key := getBytes(req, "cache_key")
	store, err := s.cacheAccess(ctx, op, key)
	return store, string(key), err
}

// ttlFrom reads a ttl_milliseconds (or another millisecond field): positive
// and at most Momento's maximum item TTL (INVALID_ARGUMENT otherwise).
func ttlFrom(req *dynamicpb.Message, name string) (time.Duration, error) {
	ms := getUint(req, name)
	if ms == 0 {
		return 0, status.Errorf(codes.InvalidArgument, "%s must be positive", name)
	}
	if ms > uint64(maxItemTTL/time.Millisecond) {
		return 0, status.Errorf(codes.InvalidArgument, "%s exceeds the maximum item TTL of %s (%d seconds)",
			name, maxItemTTL, int64(maxItemTTL/time.Second))
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// itemFrom reads and checks the value and TTL of a _SetRequest-like
// message whose key has been authorized.
func itemFrom(req *dynamicpb.Message, key string) ([]byte, time.Duration, error) {
	ttl, err := ttlFrom(req, "ttl_milliseconds")
	if err != nil {
		return nil, 0, err
	}
	value := getBytes(req, "cache_body")
	if err := checkItemSize([]byte(key), value); err != nil {
		return nil, 0, err
	}
	return append([]byte(nil), value...), ttl, nil
}

// cacheGet implements /cache_client.Scs/Get.
func (s *Server) cacheGet(ctx context.Context, req *dynamicpb.Message) (proto.Message, error) {
	store, key, err := s.cacheRequest(ctx, req, OpRead)
	if err != nil {
		return nil, err
	}
	return s.getResponse(store, key, s.now()), nil
}

// getResponse builds the _GetResponse for key.
func (s *Server) getResponse(store *cacheStore, key string, now time.Time) *dynamicpb.Message {
	resp := s.desc.newMsg("cache_client._GetResponse")
	if v, ok := store.get(key, now); ok {
		setEnum(resp, "result", s.desc.cacheResult, "Hit")
		setBytes(resp, "cache_body", v)
	} else {
		setEnum(resp, "result", s.desc.cacheResult, "Miss")
	}
	return resp
}

// cacheSet implements /cache_client.Scs/Set.
func (s *Server) cacheSet(ctx context.Context, req *dynamicpb.Message) (proto.Message, error) {
	store, key, err := s.cacheRequest(ctx, req, OpWrite)
	if err != nil {
		return nil, err
	}
	value, ttl, err := itemFrom(req, key)
	if err != nil {
		return nil, err
	}
	store.mu.Lock()
	store.setLocked(key, value, s.now(), ttl)
	store.mu.Unlock()
	resp := s.desc.newMsg("cache_client._SetResponse")
	setEnum(resp, "result", s.desc.cacheResult, "Ok")
	return resp, nil
}

// cacheDelete implements /cache_client.Scs/Delete.
func (s *Server) cacheDelete(ctx context.Context, req *dynamicpb.Message) (proto.Message, error) {
	store, key, err := s.cacheRequest(ctx, req, OpWrite)
	if err != nil {
		return nil, err
	}
	store.mu.Lock()
	delete(store.items, key)
	store.mu.Unlock()
	return s.desc.newMsg("cache_client._DeleteResponse"), nil
}

// cacheIncrement implements /cache_client.Scs/Increment: the item holds a
// base-10 integer (absent counts as 0); the result is stored with the
// request's TTL, which every increment resets.
func (s *Server) cacheIncrement(ctx context.Context, req *dynamicpb.Message) (proto.Message, error) {
	store, key, err := s.cacheRequest(ctx, req, OpWrite)
	if err != nil {
		return nil, err
	}
	ttl, err := ttlFrom(req, "ttl_milliseconds")
	if err != nil {
		return nil, err
	}
	amount := getInt(req, "amount")
	now := s.now()

	store.mu.Lock()
	defer store.mu.Unlock()
	var current int64
	if it, ok := store.getLocked(key, now); ok {
		current, err = strconv.ParseInt(string(it.value), 10, 64)
		if err != nil {
			return nil, status.Error(codes.FailedPrecondition, "the value to increment is not a base-10 64-bit integer")
		}
	}
	if (amount > 0 && current > math.MaxInt64-amount) || (amount < 0 && current < math.MinInt64-amount) {
		return nil, status.Error(codes.FailedPrecondition, "the increment overflows a 64-bit integer")
	}
	current += amount
	store.setLocked(key, []byte(strconv.FormatInt(current, 10)), now, ttl)
	resp := s.desc.newMsg("cache_client._IncrementResponse")
	setInt(resp, "value", current)
	return resp, nil
}
