package momentolocal

import (
	"context"
	"errors"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// validCacheName checks a cache name: not empty, and not "*" (the
// emulator's wildcard in permissions).
func validCacheName(name string) error {
	if name == "" || name == All {
		return errors.New("invalid cache name")
	}
	return nil
}

// cache returns the store of the named cache, or nil.
func (s *Server) cache(name string) *cacheStore {
	s.cachesMu.RLock()
	defer s.cachesMu.RUnlock()
	return s.caches[name]
}

// cacheNames returns the names of the caches that exist, sorted.
func (s *Server) cacheNames() []string {
	s.cachesMu.RLock()
	defer s.cachesMu.RUnlock()
	names := make([]string, 0, len(s.caches))
	for n := range s.caches {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ping implements /cache_client.Ping/Ping. Like Momento's, it needs no
// credentials: the JS SDKs' ping clients send no authorization.
func (s *Server) ping(context.Context, *dynamicpb.Message) (proto.Message, error) {
	return s.desc.newMsg("cache_client._PingResponse"), nil
}

// controlAccess authenticates a control-plane call: only api keys (the
// root keys) may use it; disposable tokens are data-plane only.
func (s *Server) controlAccess(ctx context.Context) error {
	p, err := s.authenticate(ctx)
	if err != nil {
		return err
	}
	if !p.root {
		return status.Error(codes.PermissionDenied, "Insufficient permissions: disposable tokens cannot use the control plane")
	}
	return nil
}

// controlCacheName authenticates a control-plane call and reads its
// cache_name.
func (s *Server) controlCacheName(ctx context.Context, req *dynamicpb.Message) (string, error) {
	if err := s.controlAccess(ctx); err != nil {
		return "", err
	}
	name := getString(req, "cache_name")
	if validCacheName(name) != nil {
		return "", status.Errorf(codes.InvalidArgument, "invalid cache name %q", name)
	}
	return name, nil
}

// createCache implements /control_client.ScsControl/CreateCache
// (ALREADY_EXISTS for an existing cache).
func (s *Server) createCache(ctx context.Context, req *dynamicpb.Message) (proto.Message, error) {
	name, err := s.controlCacheName(ctx, req)
	if err != nil {
		return nil, err
	}
	s.cachesMu.Lock()
	defer s.cachesMu.Unlock()
	if _, ok := s.caches[name]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "cache %q already exists", name)
	}
	s.caches[name] = newCacheStore()
	return s.desc.newMsg("control_client._CreateCacheResponse"), nil
}

// deleteCache implements /control_client.ScsControl/DeleteCache: the
// cache, its items and its topics go; its subscriptions end with
// NOT_FOUND, as Momento's do.
func (s *Server) deleteCache(ctx context.Context, req *dynamicpb.Message) (proto.Message, error) {
	name, err := s.controlCacheName(ctx, req)
	if err != nil {
		return nil, err
	}
	s.cachesMu.Lock()
	_, ok := s.caches[name]
	delete(s.caches, name)
	s.cachesMu.Unlock()
	if !ok {
		return nil, status.Errorf(codes.NotFound, "cache %q not found", name)
	}
	s.topics.deleteCache(name)
	return s.desc.newMsg("control_client._DeleteCacheResponse"), nil
}

// flushCache implements /control_client.ScsControl/FlushCache: every item
// goes, the cache stays.
func (s *Server) flushCache(ctx context.Context, req *dynamicpb.Message) (proto.Message, error) {
	name, err := s.controlCacheName(ctx, req)
	if err != nil {
		return nil, err
	}
	store := s.cache(name)
	if store == nil {
		return nil, status.Errorf(codes.NotFound, "cache %q not found", name)
	}
	store.flush()
	return s.desc.newMsg("control_client._FlushCacheResponse"), nil
}

// listCaches implements /control_client.ScsControl/ListCaches: every cache
// in one page, with the limits the emulator enforces.
func (s *Server) listCaches(ctx context.Context, _ *dynamicpb.Message) (proto.Message, error) {
	if err := s.controlAccess(ctx); err != nil {
		return nil, err
	}
	resp := s.desc.newMsg("control_client._ListCachesResponse")
	list := resp.Mutable(field(resp, "cache")).List()
	for _, name := range s.cacheNames() {
		c := list.NewElement().Message()
		setString(c, "cache_name", name)
		cl := setNew(c, "cache_limits")
		setUint32(cl, "max_item_size_kb", (maxItemSize+1023)/1024)
		setUint(cl, "max_ttl_seconds", uint64(maxItemTTL.Seconds()))
		tl := setNew(c, "topic_limits")
		setUint32(tl, "max_publish_message_size_kb", maxTopicPayload/1024)
		list.Append(protoreflect.ValueOfMessage(c))
	}
	return resp, nil
}
