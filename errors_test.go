package tvm

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"testing"
)

// TestSentinelsComplete: every sentinel error declared in errors.go (an
// exported Err* variable made by errors.New) is in sentinels, so that an
// authenticator's error wrapping it gets the answer the sentinel decides,
// not a 401 (authError).
func TestSentinelsComplete(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, s := range sentinels {
		listed[s.Error()] = true
	}
	declared := 0
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || len(vs.Values) != 1 || !vs.Names[0].IsExported() {
			return true
		}
		call, ok := vs.Values[0].(*ast.CallExpr)
		if !ok || len(call.Args) != 1 {
			return true
		}
		if sel, ok := call.Fun.(*ast.SelectorExpr); !ok || sel.Sel.Name != "New" {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok {
			return true
		}
		msg, err := strconv.Unquote(lit.Value)
		if err != nil {
			t.Fatal(err)
		}
		declared++
		if !listed[msg] {
			t.Errorf("%s (%q) is not in sentinels", vs.Names[0].Name, msg)
		}
		return true
	})
	if declared < 10 {
		t.Fatalf("found only %d sentinel declarations in errors.go: the parse missed them", declared)
	}
	if declared != len(sentinels) {
		t.Errorf("errors.go declares %d sentinels, sentinels lists %d", declared, len(sentinels))
	}
}
