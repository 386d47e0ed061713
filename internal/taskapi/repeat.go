package taskapi

import (
	"context"
	"time"

	"github.com/go-logr/logr"
)

// repeat runs do until ctx ends: every period after it succeeds, every retry after it
// fails. A failure is logged as what went wrong doing it, once until the error changes
// (a cluster without what do needs would have it said every few seconds), and a
// success after failures says so.
func repeat(ctx context.Context, log logr.Logger, doing string, period, retry time.Duration, do func(context.Context) error) {
	last := ""
	for {
		wait := period
		err := do(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if err.Error() != last {
				log.Error(err, doing)
			}
			last, wait = err.Error(), retry
		case err == nil && last != "":
			log.Info(doing + ": done again")
			last = ""
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
