// Package scripts holds developer and CI tooling written in Go (the process runner behind
// `make run`, benchmark drivers); the shell entry points sit beside it.
package scripts
