package momentolocal

import (
	"context"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"
)

type cacheStore struct{}

func newCacheStore() *cacheStore { return &cacheStore{} }

type topicHub struct{}

func newTopicHub(*Server) *topicHub { return &topicHub{} }

type originPattern struct{}

func parseOrigins([]string) ([]originPattern, error) { return nil, nil }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "not implemented", http.StatusNotImplemented)
}

func (s *Server) publish(ctx context.Context, req *dynamicpb.Message) (proto.Message, error) {
	return nil, status.Error(codes.Unimplemented, "not yet")
}
func (s *Server) subscribe(ctx context.Context, req *dynamicpb.Message, send func(proto.Message) error) error {
	return status.Error(codes.Unimplemented, "not yet")
}
func (s *Server) cacheGet(ctx context.Context, req *dynamicpb.Message) (proto.Message, error) {
	return nil, status.Error(codes.Unimplemented, "not yet")
}
func (s *Server) cacheSet(ctx context.Context, req *dynamicpb.Message) (proto.Message, error) {
	return nil, status.Error(codes.Unimplemented, "not yet")
}
func (s *Server) cacheDelete(ctx context.Context, req *dynamicpb.Message) (proto.Message, error) {
	return nil, status.Error(codes.Unimplemented, "not yet")
}
func (s *Server) cacheIncrement(ctx context.Context, req *dynamicpb.Message) (proto.Message, error) {
	return nil, status.Error(codes.Unimplemented, "not yet")
}
