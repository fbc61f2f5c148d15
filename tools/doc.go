// Package tools pins the development tools of gomsgr in a module of its own,
// so the library's go.mod carries none of their dependencies. Each tool is a
// `tool` directive in tools/go.mod; run one from the repository root with
//
//	go tool -modfile=tools/go.mod golangci-lint run ./...
//
// (the linter's configuration is .golangci.yml at the root; .ci/run lints
// the root module and bench/peers). Add or upgrade a tool inside tools/ with
// `go get -tool PACKAGE@VERSION`.
package tools
