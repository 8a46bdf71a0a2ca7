package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/freshmart/platform/broker/internal/storage"
)

// topicDef is one entry of a --topics file: a JSON array of
// {"name": "...", "partitions": N, "configs": {"retention.ms": "-1"}}.
type topicDef struct {
	Name       string            `json:"name"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs"`
}

// ensureTopics creates the topics defined in path that do not exist yet.
// Existing topics are left as they are.
func ensureTopics(store *storage.Store, path string, log *slog.Logger) error {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--topics: %w", err)
	}
	var defs []topicDef
	if err := json.Unmarshal(b, &defs); err != nil {
		return fmt.Errorf("--topics %s: %w", path, err)
	}
	for _, d := range defs {
		if _, ok := store.Topic(d.Name); ok {
			continue
		}
		if _, err := store.CreateTopic(d.Name, d.Partitions, d.Configs); err != nil && !errors.Is(err, storage.ErrTopicExists) {
			return fmt.Errorf("--topics %s: create %q: %w", path, d.Name, err)
		}
		log.Info("created topic", "topic", d.Name, "partitions", d.Partitions)
	}
	return nil
}
