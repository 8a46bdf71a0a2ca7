package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/freshmart/platform/broker/internal/storage"
)

// lockName is the lock file taken (flock, exclusive) around every change of
// users.json and acls.json.
const lockName = "auth.lock"

// jsonFile is one of the package's JSON files with a cached, decoded copy
// that is reloaded when the file changes on disk (another process wrote it).
type jsonFile[T any] struct {
	path  string
	empty func() T

	mu    sync.Mutex
	val   T
	size  int64
	mtime time.Time
	seen  bool
}

// get returns the current content, reloading it if the file changed.
func (f *jsonFile[T]) get() (T, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := os.Stat(f.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if !f.seen || f.size != -1 {
			f.val, f.size, f.mtime, f.seen = f.empty(), -1, time.Time{}, true
		}
		return f.val, nil
	case err != nil:
		return f.val, fmt.Errorf("stat %s: %w", f.path, err)
	}
	if f.seen && st.Size() == f.size && st.ModTime().Equal(f.mtime) {
		return f.val, nil
	}
	v, err := f.read()
	if err != nil {
		return f.val, err
	}
	f.val, f.size, f.mtime, f.seen = v, st.Size(), st.ModTime(), true
	return v, nil
}

func (f *jsonFile[T]) read() (T, error) {
	v := f.empty()
	b, err := os.ReadFile(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return v, nil
	}
	if err != nil {
		return v, fmt.Errorf("read %s: %w", f.path, err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("decode %s: %w", f.path, err)
	}
	return v, nil
}

// update applies fn to the file's current content under the directory's
// lock and writes the result crash-safely. fn returning an error leaves the
// file unchanged.
func (f *jsonFile[T]) update(fn func(*T) error) error {
	unlock, err := lockDir(filepath.Dir(f.path))
	if err != nil {
		return err
	}
	defer unlock()
	v, err := f.read()
	if err != nil {
		return err
	}
	if err := fn(&v); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", f.path, err)
	}
	if err := storage.WriteFileAtomic(f.path, append(b, '\n')); err != nil {
		return err
	}
	f.mu.Lock()
	f.seen = false // reload on the next get
	f.mu.Unlock()
	return nil
}

// lockDir takes the exclusive flock on dir/auth.lock, waiting for another
// holder (the broker or a `users` command) to finish.
func lockDir(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("auth: data dir: %w", err)
	}
	lf, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("auth: lock: %w", err)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		lf.Close()
		return nil, fmt.Errorf("auth: lock %s: %w", lf.Name(), err)
	}
	return func() {
		syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
		lf.Close()
	}, nil
}
