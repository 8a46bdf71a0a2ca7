// Package broker holds what the FreshMart broker ships besides code: the
// definitions of the topics it creates on first start.
package broker

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/freshmart/platform/broker/internal/storage"
)

// TopicDef defines a topic: name, partition count and explicit configs.
type TopicDef = storage.TopicDef

//go:embed topics.json
var defaultTopicsJSON []byte

// topicsFile is the object form of a topics file.
type topicsFile struct {
	Topics []TopicDef `json:"topics"`
}

// DefaultTopics returns the FreshMart topics embedded from topics.json:
// pos-sales, inventory-updates, customer-complaints and vendor-deliveries
// (12 partitions, kept forever), display-updates (12, 7 days), store-alerts
// (12, 90 days), daily-sales-report (1, kept forever) and purchasing (12, kept forever).
func DefaultTopics() ([]TopicDef, error) {
	return ParseTopics(defaultTopicsJSON)
}

// ParseTopics parses a topics file: a JSON array of
// {"name": "...", "partitions": N, "configs": {"retention.ms": "-1"}} as in
// topics.json, or an object {"topics": [...]} holding such an array. It
// validates every name, partition count and config.
func ParseTopics(data []byte) ([]TopicDef, error) {
	var f topicsFile
	trimmed := bytes.TrimSpace(data)
	var err error
	if len(trimmed) > 0 && trimmed[0] == '[' {
		err = json.Unmarshal(trimmed, &f.Topics)
	} else {
		err = json.Unmarshal(trimmed, &f)
	}
	if err != nil {
		return nil, fmt.Errorf("topics file: %w", err)
	}
	seen := map[string]bool{}
	for i, d := range f.Topics {
		if err := storage.ValidateTopicName(d.Name); err != nil {
			return nil, fmt.Errorf("topics file: topic %d: %w", i, err)
		}
		if seen[d.Name] {
			return nil, fmt.Errorf("topics file: topic %q defined twice", d.Name)
		}
		seen[d.Name] = true
		if d.Partitions < 1 {
			return nil, fmt.Errorf("topics file: topic %q: %w: %d", d.Name, storage.ErrInvalidPartitions, d.Partitions)
		}
		for k, v := range d.Configs {
			if err := storage.ValidateConfig(k, v); err != nil {
				return nil, fmt.Errorf("topics file: topic %q: %w", d.Name, err)
			}
		}
	}
	return f.Topics, nil
}

// LoadTopics reads and parses a topics file (see ParseTopics).
func LoadTopics(path string) ([]TopicDef, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("topics file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("topics file %s: %w", path, err)
	}
	return ParseTopics(data)
}
