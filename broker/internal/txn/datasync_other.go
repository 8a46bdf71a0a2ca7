//go:build !linux

package txn

import "os"

func datasync(f *os.File) error { return f.Sync() }
