package events

import (
	"fmt"

	"github.com/google/uuid"
)

// namespace is the UUID namespace of derived event ids.
var namespace = uuid.MustParse("6f1d0b7e-2f4c-5a8e-9b3d-7c2e1a0f4d58")

// DerivedID returns a deterministic UUID (version 5) for the n-th event emitted because of the
// input record at topic/partition/offset. Replaying the same input yields the same ids, so
// readers can drop duplicates.
func DerivedID(topic string, partition int32, offset int64, n int) string {
	return uuid.NewSHA1(namespace, fmt.Appendf(nil, "%s/%d/%d/%d", topic, partition, offset, n)).String()
}
