package kit

import (
	"context"
	"fmt"
	"os"
)

// Rebuilt is what a service's rebuild found, for RebuildCommand to print.
type Rebuilt interface {
	// Summary says what was replayed and counted, in one line.
	Summary() string
	// Compared names what was compared, for the line saying the views are equal
	// ("stock rows", "alert ids included", ...).
	Compared() string
	// Differences lists where the rebuilt view differs from the live one (at most a
	// screenful) and how many differences there are in all; none means equal.
	Differences() (shown []string, total int)
}

// RebuildCommand is a service's `rebuild` subcommand: it builds the service from opts
// (Postgres only, as a rebuild needs), runs rebuild, which replays the service's topics into a
// fresh view and compares it with the live one, and prints the outcome. Its status is 0 when
// the views are equal, 1 when they differ and 2 when the rebuild could not run.
func RebuildCommand(service string, opts Options, rebuild func(ctx context.Context, s *Service) (Rebuilt, error)) func(args []string) int {
	return func([]string) int {
		ctx, stop := SignalContext()
		defer stop()
		fail := func(err error) int {
			fmt.Fprintf(os.Stderr, "%s rebuild: %v\n", service, err)
			return 2
		}
		s, err := New(ctx, opts)
		if err != nil {
			return fail(err)
		}
		defer s.Close()
		rep, err := rebuild(ctx, s)
		if err != nil {
			return fail(err)
		}
		fmt.Println(rep.Summary())
		shown, total := rep.Differences()
		if total == 0 {
			fmt.Println("rebuilt view equals the live view: " + rep.Compared())
			return 0
		}
		noun := "differences"
		if total == 1 {
			noun = "difference"
		}
		fmt.Printf("rebuilt view differs from the live view: %d %s:\n", total, noun)
		for _, d := range shown {
			fmt.Println("  " + d)
		}
		return 1
	}
}
