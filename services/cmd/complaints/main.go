// Command complaints runs the complaints service: the intake (POST /v1/complaints produces
// complaint.filed; GET /v1/complaints lists them), the spike rule per store and SKU (3
// complaints within 30 minutes by filed_at alert the store manager on store-alerts, resolved
// when the window passes, chain-wide when a SKU spikes in several stores within a day), and
// GET /v1/spikes and /v1/chain-spikes for the dashboard.
//
// Usage:
//
//	complaints           run the service
//	complaints rebuild   replay customer-complaints into a fresh view and compare it with the
//	                     live one, alert ids included (exit status 1 when they differ)
//
// It is configured by the environment the service kit reads (internal/kit: KAFKA_BROKERS,
// DATABASE_URL (required), HTTP_ADDR default 127.0.0.1:8083, LOG_LEVEL, LOG_FORMAT) and
// COMPLAINT_SPIKE_THRESHOLD (3), COMPLAINT_SPIKE_WINDOW (30m).
package main

import (
	"context"

	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/services/complaints/app"
)

func main() {
	kit.RunCommand("complaints", kit.Commands{"rebuild": kit.RebuildCommand("complaints", app.RebuildOptions, rebuild)})
	kit.Main(app.Options, func(_ context.Context, s *kit.Service) error {
		cfg, err := app.ConfigFromEnv(s.Env)
		if err != nil {
			return err
		}
		_, err = app.New(s, cfg)
		return err
	})
}

// rebuild replays the service's topics into a fresh view and compares it with the live one.
func rebuild(ctx context.Context, s *kit.Service) (kit.Rebuilt, error) {
	cfg, err := app.ConfigFromEnv(s.Env)
	if err != nil {
		return nil, err
	}
	return app.Rebuild(ctx, s, cfg)
}
