package momentolocal

import (
	"bytes"
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// cacheSetIf implements /cache_client.Scs/SetIf, which the SDKs send for
// every SetIf* call except the hash-based ones: SetIfAbsent (and the
// deprecated SetIfNotExists) send absent, SetIfPresent present, SetIfEqual
// equal, SetIfNotEqual not_equal, SetIfPresentAndNotEqual
// present_and_not_equal, SetIfAbsentOrEqual absent_or_equal. It is a write
// (a read-only token cannot use it).
func (s *Server) cacheSetIf(ctx context.Context, req *dynamicpb.Message) (proto.Message, error) {
	store, key, err := s.cacheRequest(ctx, req, OpWrite)
	if err != nil {
		return nil, err
	}
	cond := whichOneof(req, "condition")
	if cond == "" {
		return nil, status.Error(codes.InvalidArgument, "a condition is required")
	}
	var check []byte
	if c := getMessage(req, cond); c != nil && c.Descriptor().Fields().ByName("value_to_check") != nil {
		check = getBytes(c, "value_to_check")
	}
	value, ttl, err := itemFrom(req, key)
	if err != nil {
		return nil, err
	}
	now := s.now()

	store.mu.Lock()
	it, present := store.getLocked(key, now)
	equal := present && bytes.Equal(it.value, check)
	var ok bool
	switch cond {
	case "present":
		ok = present
	case "absent":
		ok = !present
	case "equal":
		ok = equal
	case "not_equal":
		ok = !equal // absent, or present with another value
	case "present_and_not_equal":
		ok = present && !equal
	case "absent_or_equal":
		ok = !present || equal
	default:
		store.mu.Unlock()
		return nil, status.Errorf(codes.InvalidArgument, "unknown condition %s", cond)
	}
	if ok {
		store.setLocked(key, value, now, ttl)
	}
	store.mu.Unlock()

	resp := s.desc.newMsg("cache_client._SetIfResponse")
	if ok {
		setNew(resp, "stored")
	} else {
		setNew(resp, "not_stored")
	}
	return resp, nil
}

// cacheGetBatch implements /cache_client.Scs/GetBatch: one _GetResponse
// per requested key, in order. Every key must be readable.
func (s *Server) cacheGetBatch(ctx context.Context, req *dynamicpb.Message, send func(any) error) error {
	list := req.Get(field(req, "items")).List()
	keys := make([][]byte, list.Len())
	for i := range keys {
		keys[i] = getBytes(list.Get(i).Message(), "cache_key")
	}
	store, err := s.cacheAccess(ctx, OpRead, keys...)
	if err != nil {
		return err
	}
	now := s.now()
	for _, k := range keys {
		if err := send(s.getResponse(store, string(k), now)); err != nil {
			return err
		}
	}
	return nil
}

// cacheSetBatch implements /cache_client.Scs/SetBatch: one _SetResponse
// per item, in order. Every key must be writable and every item valid;
// otherwise nothing is stored.
func (s *Server) cacheSetBatch(ctx context.Context, req *dynamicpb.Message, send func(any) error) error {
	list := req.Get(field(req, "items")).List()
	keys := make([][]byte, list.Len())
	for i := range keys {
		keys[i] = getBytes(list.Get(i).Message(), "cache_key")
	}
	store, err := s.cacheAccess(ctx, OpWrite, keys...)
	if err != nil {
		return err
	}
	type item struct {
		key   string
		value []byte
		ttl   time.Duration
	}
	items := make([]item, len(keys))
	for i, k := range keys {
		v, ttl, err := itemFrom(list.Get(i).Message().(*dynamicpb.Message), string(k))
		if err != nil {
			return err
		}
		items[i] = item{string(k), v, ttl}
	}
	now := s.now()
	store.mu.Lock()
	for _, it := range items {
		store.setLocked(it.key, it.value, now, it.ttl)
	}
	store.mu.Unlock()
	for range items {
		resp := s.desc.newMsg("cache_client._SetResponse")
		setEnum(resp, "result", s.desc.cacheResult, "Ok")
		if err := send(resp); err != nil {
			return err
		}
	}
	return nil
}

// cacheKeysExist implements /cache_client.Scs/KeysExist (also what the
// SDKs' KeyExists sends). Every key must be readable.
func (s *Server) cacheKeysExist(ctx context.Context, req *dynamicpb.Message) (proto.Message, error) {
	list := req.Get(field(req, "cache_keys")).List()
	keys := make([][]byte, list.Len())
	for i := range keys {
		keys[i] = list.Get(i).Bytes()
	}
	store, err := s.cacheAccess(ctx, OpRead, keys...)
	if err != nil {
		return nil, err
	}
	resp := s.desc.newMsg("cache_client._KeysExistResponse")
	out := resp.Mutable(field(resp, "exists")).List()
	now := s.now()
	store.mu.Lock()
	defer store.mu.Unlock()
	for _, k := range keys {
		_, ok := store.getLocked(string(k), now)
		out.Append(protoreflect.ValueOfBool(ok))
	}
	return resp, nil
}

// cacheItemGetTtl implements /cache_client.Scs/ItemGetTtl, a read.
func (s *Server) cacheItemGetTtl(ctx context.Context, req *dynamicpb.Message) (proto.Message, error) {
	store, key, err := s.cacheRequest(ctx, req, OpRead)
	if err != nil {
		return nil, err
	}
	now := s.now()
	store.mu.Lock()
	it, ok := store.getLocked(key, now)
	store.mu.Unlock()
	resp := s.desc.newMsg("cache_client._ItemGetTtlResponse")
	if !ok {
		setNew(resp, "missing")
		return resp, nil
	}
	setUint(setNew(resp, "found"), "remaining_ttl_millis", uint64(it.expires.Sub(now)/time.Millisecond))
	return resp, nil
}

// cacheUpdateTtl implements /cache_client.Scs/UpdateTtl, which the SDKs
// send for UpdateTtl (overwrite_to_milliseconds), IncreaseTtl
// (increase_to_milliseconds: applied only if longer than the remaining
// TTL) and DecreaseTtl (decrease_to_milliseconds: only if shorter). It is
// a write.
func (s *Server) cacheUpdateTtl(ctx context.Context, req *dynamicpb.Message) (proto.Message, error) {
	store, key, err := s.cacheRequest(ctx, req, OpWrite)
	if err != nil {
		return nil, err
	}
	kind := whichOneof(req, "update_ttl")
	if kind == "" {
		return nil, status.Error(codes.InvalidArgument, "update_ttl is required")
	}
	ttl, err := ttlFrom(req, kind)
	if err != nil {
		return nil, err
	}
	now := s.now()
	store.mu.Lock()
	defer store.mu.Unlock()
	resp := s.desc.newMsg("cache_client._UpdateTtlResponse")
	it, ok := store.getLocked(key, now)
	if !ok {
		setNew(resp, "missing")
		return resp, nil
	}
	remaining := it.expires.Sub(now)
	apply := kind == "overwrite_to_milliseconds" ||
		(kind == "increase_to_milliseconds" && ttl > remaining) ||
		(kind == "decrease_to_milliseconds" && ttl < remaining)
	if !apply {
		setNew(resp, "not_set")
		return resp, nil
	}
	it.expires = now.Add(ttl)
	store.items[key] = it
	setNew(resp, "set")
	return resp, nil
}
