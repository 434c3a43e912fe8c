package momentolocal_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/momentohq/client-sdk-go/config"
	"github.com/momentohq/client-sdk-go/config/logger/momento_default_logger"
	"github.com/momentohq/client-sdk-go/momento"
	authresp "github.com/momentohq/client-sdk-go/responses/auth"
	"github.com/momentohq/client-sdk-go/utils"
	"google.golang.org/grpc/codes"

	"github.com/tvmgo/tvm/momentolocal"
)

// Start an emulator, vend a disposable token through the official Go SDK as
// a token vending machine would, check what the token service received, and
// see the emulator enforce the token's scope.
func Example() {
	srv, err := momentolocal.Start(momentolocal.Config{}) // 127.0.0.1:<free port>, cache "default-cache"
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()

	// Root credentials for the SDK, pointing at the emulator.
	root, err := srv.CredentialProvider()
	if err != nil {
		log.Fatal(err)
	}
	authClient, err := momento.NewAuthClient(config.AuthDefault(), root)
	if err != nil {
		log.Fatal(err)
	}
	defer authClient.Close()
	tokenID := "alice"
	resp, err := authClient.GenerateDisposableToken(ctx, &momento.GenerateDisposableTokenRequest{
		ExpiresIn: utils.ExpiresInMinutes(15),
		Scope:     momento.TopicSubscribeOnly(momento.CacheName{Name: "default-cache"}, momento.AllTopics{}),
		Props:     momento.DisposableTokenProps{TokenId: &tokenID},
	})
	if err != nil {
		log.Fatal(err)
	}
	token := resp.(*authresp.GenerateDisposableTokenSuccess).ApiKey

	// What the token service received.
	for _, r := range srv.TokenRequests() {
		fmt.Println(r.TokenID, r.ValidFor, r.Permissions)
	}

	// The disposable token may subscribe, not write to the cache.
	creds, err := srv.CredentialProviderFor(token)
	if err != nil {
		log.Fatal(err)
	}
	quiet := momento_default_logger.NewDefaultMomentoLoggerFactory(momento_default_logger.ERROR)
	cacheClient, err := momento.NewCacheClientWithEagerConnectTimeout(config.LaptopLatestWithLogger(quiet), creds, time.Minute, 0)
	if err != nil {
		log.Fatal(err)
	}
	defer cacheClient.Close()
	_, err = cacheClient.Set(ctx, &momento.SetRequest{CacheName: "default-cache", Key: momento.String("k"), Value: momento.String("v")})
	var me momento.MomentoError
	if errors.As(err, &me) {
		fmt.Println(me.Code())
	}
	// Output:
	// alice 15m0s [subscribeonly cache=default-cache topic=*]
	// PermissionError
}

// Make the next two token requests fail as if Momento were unavailable, to
// test a client's retries.
func ExampleFaults_FailNext() {
	srv, err := momentolocal.Start(momentolocal.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	if _, err := srv.Faults().FailNext("GenerateDisposableToken", codes.Unavailable, 2); err != nil {
		log.Fatal(err)
	}
	for _, f := range srv.Faults().List() {
		fmt.Println(f.Method, f.Code, f.Remaining)
	}
	// Output:
	// /token.Token/GenerateDisposableToken Unavailable 2
}
