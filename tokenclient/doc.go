// Package tokenclient holds no Go code: it is the directory of the npm
// package @tvmgo/token-client (TypeScript, see README.md), and its Go test
// runs that package's browser suite so that `go test ./...` covers it.
package tokenclient
