package storage

// WriteFileAtomic replaces path with data crash-safely: a temp file in the
// same directory is written and fsynced, renamed over path, and the
// directory is fsynced, so after a crash path holds either the old or the
// new content, never a mix. Other packages that keep small files in the
// data directory (users, ACLs) use it instead of a copy.
func WriteFileAtomic(path string, data []byte) error { return writeFileAtomic(path, data) }
