package momentolocal

import "strings"

// methodTable lists every method the emulator serves, with its input and
// output messages, in the order of the README's list. Any other method
// answers UNIMPLEMENTED (see unimplemented).
func (s *Server) methodTable(d *descriptors) ([]*method, error) {
	unary := func(full, in, out string, f unaryFunc) *method {
		return &method{fullName: full, in: d.msg(in), out: d.msg(out), unary: f}
	}
	stream := func(full, in, out string, f streamFunc) *method {
		return &method{fullName: full, in: d.msg(in), out: d.msg(out), stream: f}
	}
	const cc = "cache_client."
	list := []*method{
		unary(methodGenerateDisposableToken, "token._GenerateDisposableTokenRequest", "token._GenerateDisposableTokenResponse", s.generateDisposableToken),

		unary("/cache_client.pubsub.Pubsub/Publish", "cache_client.pubsub._PublishRequest", "common._Empty", s.publish),
		stream(methodSubscribe, "cache_client.pubsub._SubscriptionRequest", "cache_client.pubsub._SubscriptionItem", s.subscribe),

		unary("/cache_client.Scs/Get", cc+"_GetRequest", cc+"_GetResponse", s.cacheGet),
		stream("/cache_client.Scs/GetBatch", cc+"_GetBatchRequest", cc+"_GetResponse", s.cacheGetBatch),
		unary("/cache_client.Scs/Set", cc+"_SetRequest", cc+"_SetResponse", s.cacheSet),
		stream("/cache_client.Scs/SetBatch", cc+"_SetBatchRequest", cc+"_SetResponse", s.cacheSetBatch),
		unary("/cache_client.Scs/SetIf", cc+"_SetIfRequest", cc+"_SetIfResponse", s.cacheSetIf),
		unary("/cache_client.Scs/Delete", cc+"_DeleteRequest", cc+"_DeleteResponse", s.cacheDelete),
		unary("/cache_client.Scs/KeysExist", cc+"_KeysExistRequest", cc+"_KeysExistResponse", s.cacheKeysExist),
		unary("/cache_client.Scs/Increment", cc+"_IncrementRequest", cc+"_IncrementResponse", s.cacheIncrement),
		unary("/cache_client.Scs/UpdateTtl", cc+"_UpdateTtlRequest", cc+"_UpdateTtlResponse", s.cacheUpdateTtl),
		unary("/cache_client.Scs/ItemGetTtl", cc+"_ItemGetTtlRequest", cc+"_ItemGetTtlResponse", s.cacheItemGetTtl),

		unary("/cache_client.Ping/Ping", cc+"_PingRequest", cc+"_PingResponse", s.ping),

		unary("/control_client.ScsControl/CreateCache", "control_client._CreateCacheRequest", "control_client._CreateCacheResponse", s.createCache),
		unary("/control_client.ScsControl/DeleteCache", "control_client._DeleteCacheRequest", "control_client._DeleteCacheResponse", s.deleteCache),
		unary("/control_client.ScsControl/ListCaches", "control_client._ListCachesRequest", "control_client._ListCachesResponse", s.listCaches),
		unary("/control_client.ScsControl/FlushCache", "control_client._FlushCacheRequest", "control_client._FlushCacheResponse", s.flushCache),
	}
	if d.err != nil {
		return nil, d.err
	}
	return list, nil
}

// unimplementedMessage is the status message for a method the emulator
// does not serve; it names the method.
func unimplementedMessage(fullMethod string) string {
	if !strings.HasPrefix(fullMethod, "/") {
		fullMethod = "/" + fullMethod
	}
	return "momentolocal does not implement " + fullMethod + " (see the momentolocal README for the methods it serves)"
}
