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

// get returns the live value of key.
func (c *cacheStore) get(key string, now time.Time) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, ok := c.items[key]
	if !ok {
		return nil, false
	}
	if !now.Before(it.expires) {
		delete(c.items, key)
		return nil, false
	}
	return it.value, true
}

// set stores value under key until now+ttl. c.mu must be held.
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

// cacheRequest authenticates and authorizes a cache call on the cache named
// in the "cache" metadata and the key in the request's cache_key.
func (s *Server) cacheRequest(ctx context.Context, req *dynamicpb.Message, op Operation) (*cacheStore, string, error) {
	p, err := s.authenticate(ctx)
	if err != nil {
		return nil, "", err
	}
	md, _ := metadata.FromIncomingContext(ctx)
	names := md.Get("cache")
	if len(names) != 1 || names[0] == "" {
		return nil, "", status.Error(codes.InvalidArgument, `the "cache" metadata must name the cache`)
	}
	cache := names[0]
	key := string(getBytes(req, "cache_key"))
	if key == "" {
		return nil, "", status.Error(codes.InvalidArgument, "cache_key must not be empty")
	}
	if !p.allows(Request{Op: op, Cache: cache, Key: key}) {
		return nil, "", status.Errorf(codes.PermissionDenied, "insufficient permissions to %s this key of cache %q", op, cache)
	}
	store, ok := s.caches[cache]
	if !ok {
		return nil, "", status.Errorf(codes.NotFound, "cache %q not found", cache)
	}
	return store, key, nil
}

// ttlFrom reads a positive ttl_milliseconds.
func ttlFrom(req *dynamicpb.Message) (time.Duration, error) {
	ms := getUint(req, "ttl_milliseconds")
	if ms == 0 {
		return 0, status.Error(codes.InvalidArgument, "ttl_milliseconds must be positive")
	}
	if ms > uint64(math.MaxInt64/int64(time.Millisecond)) {
		return 0, status.Error(codes.InvalidArgument, "ttl_milliseconds is too large")
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// cacheGet implements /cache_client.Scs/Get.
func (s *Server) cacheGet(ctx context.Context, req *dynamicpb.Message) (proto.Message, error) {
	store, key, err := s.cacheRequest(ctx, req, OpRead)
	if err != nil {
		return nil, err
	}
	resp := dynamicpb.NewMessage(s.desc.getResp)
	if v, ok := store.get(key, s.now()); ok {
		setEnum(resp, "result", s.desc.cacheResult, "Hit")
		setBytes(resp, "cache_body", v)
	} else {
		setEnum(resp, "result", s.desc.cacheResult, "Miss")
	}
	return resp, nil
}

// cacheSet implements /cache_client.Scs/Set.
func (s *Server) cacheSet(ctx context.Context, req *dynamicpb.Message) (proto.Message, error) {
	store, key, err := s.cacheRequest(ctx, req, OpWrite)
	if err != nil {
		return nil, err
	}
	ttl, err := ttlFrom(req)
	if err != nil {
		return nil, err
	}
	value := append([]byte(nil), getBytes(req, "cache_body")...)
	store.mu.Lock()
	store.setLocked(key, value, s.now(), ttl)
	store.mu.Unlock()
	resp := dynamicpb.NewMessage(s.desc.setResp)
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
	return dynamicpb.NewMessage(s.desc.deleteResp), nil
}

// cacheIncrement implements /cache_client.Scs/Increment: the item holds a
// base-10 integer (absent counts as 0); the result is stored with the
// request's TTL, which every increment resets.
func (s *Server) cacheIncrement(ctx context.Context, req *dynamicpb.Message) (proto.Message, error) {
	store, key, err := s.cacheRequest(ctx, req, OpWrite)
	if err != nil {
		return nil, err
	}
	ttl, err := ttlFrom(req)
	if err != nil {
		return nil, err
	}
	amount := getInt(req, "amount")
	now := s.now()

	store.mu.Lock()
	defer store.mu.Unlock()
	var current int64
	if it, ok := store.items[key]; ok && now.Before(it.expires) {
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
	resp := dynamicpb.NewMessage(s.desc.incrResp)
	setInt(resp, "value", current)
	return resp, nil
}
