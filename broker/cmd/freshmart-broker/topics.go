package main

import (
	"fmt"
	"log/slog"

	"github.com/freshmart/platform/broker"
	"github.com/freshmart/platform/broker/internal/storage"
)

// ensureTopics creates the topics defined in path (default: the embedded
// FreshMart topics) that do not exist yet; existing topics are left as they
// are.
func ensureTopics(store *storage.Store, path string, log *slog.Logger) error {
	var (
		defs []broker.TopicDef
		err  error
	)
	if path == "" {
		defs, err = broker.DefaultTopics()
	} else {
		defs, err = broker.LoadTopics(path)
	}
	if err != nil {
		return fmt.Errorf("--topics: %w", err)
	}
	created, err := store.EnsureTopics(defs)
	for _, name := range created {
		log.Info("created topic", "topic", name)
	}
	if err != nil {
		return fmt.Errorf("--topics: %w", err)
	}
	return nil
}
