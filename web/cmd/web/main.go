// Command web serves the store manager's live dashboard at HTTP_ADDR (default 127.0.0.1:8080).
//
// It is configured by the environment the service kit reads (internal/kit: KAFKA_BROKERS,
// HTTP_ADDR, LOG_LEVEL, LOG_FORMAT) and INVENTORY_URL (http://127.0.0.1:8082), POS_URL
// (http://127.0.0.1:8081), BROKER_HTTP_URL (http://127.0.0.1:9644).
package main

import (
	"context"

	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/web/dashboard"
)

func main() {
	kit.Main(dashboard.Options, func(_ context.Context, s *kit.Service) error {
		_, err := dashboard.New(s)
		return err
	})
}
