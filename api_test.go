package tvm

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// maxExportedNames is the budget of the root package's API (issue 9).
const maxExportedNames = 130

// TestAPIBudget keeps the package's exported surface small: it parses the
// non-test files and counts the exported constants, variables, types and
// functions, and the exported methods (on exported and unexported
// receivers alike; interface methods are part of their type). It fails
// when the count exceeds maxExportedNames, listing the names.
func TestAPIBudget(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var names []string
	kinds := map[string]int{}
	add := func(kind, name string) {
		kinds[kind]++
		names = append(names, kind+" "+name)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name.Name != "tvm" {
			t.Fatalf("%s: package %s", name, f.Name.Name)
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				if d.Recv == nil {
					add("func", d.Name.Name)
				} else {
					add("method", receiverName(d.Recv.List[0].Type)+"."+d.Name.Name)
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.ValueSpec:
						kind := "var"
						if d.Tok == token.CONST {
							kind = "const"
						}
						for _, n := range s.Names {
							if n.IsExported() {
								add(kind, n.Name)
							}
						}
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							add("type", s.Name.Name)
						}
					}
				}
			}
		}
	}
	if len(names) < 50 {
		t.Fatalf("counted only %d exported names: the parse missed files", len(names))
	}
	t.Logf("root package: %d exported names (%d consts, %d vars, %d types, %d funcs, %d methods); budget %d",
		len(names), kinds["const"], kinds["var"], kinds["type"], kinds["func"], kinds["method"], maxExportedNames)
	if len(names) > maxExportedNames {
		slices.Sort(names)
		t.Errorf("%d exported names, over the budget of %d:\n%s", len(names), maxExportedNames, strings.Join(names, "\n"))
	}
}

// receiverName returns the type name of a method receiver (T, *T, T[P]).
func receiverName(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.StarExpr:
		return receiverName(x.X)
	case *ast.IndexExpr:
		return receiverName(x.X)
	case *ast.IndexListExpr:
		return receiverName(x.X)
	case *ast.Ident:
		return x.Name
	}
	return "?"
}
