package sbemu

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/entra-purge/entra-purge/standin/internal/cli"
)

// PurgeQueues are the queues infra/ creates: the trigger queue (duplicate detection, MaxDeliveryCount 10)
// and the failure queue (duplicate detection, MaxDeliveryCount 100).
func PurgeQueues(trigger, failed string) []Queue {
	return []Queue{
		{Name: trigger, MaxDeliveryCount: 10, DuplicateDetection: true},
		{Name: failed, MaxDeliveryCount: 100, DuplicateDetection: true},
	}
}

// Command is `go run ./standin servicebus`: the emulator (Node.js, in standin/sbemu/emulator) started
// through this package, on the port local.settings.sample.json points at, until ctx ends:
//
//	go run ./standin servicebus [-port 5672] [-queues 'purge-requests:maxDeliveryCount=10:duplicateDetection=true,purge-failed']
//
// Its events (one JSON object per line) go to stdout, the connection string to stderr.
func Command(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("standin servicebus", flag.ContinueOnError)
	port := fs.Int("port", 5672, "AMQP port on 127.0.0.1 (0 picks a free one)")
	queues := fs.String("queues", queueFlag(PurgeQueues("purge-requests", "purge-failed")),
		"queues, `name[:maxDeliveryCount=N][:lockDuration=D][:duplicateDetection=true],…`")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	qs, err := parseQueueFlag(*queues)
	if err != nil {
		return &cli.UsageError{Err: fmt.Errorf("-queues: %w", err)}
	}
	e, err := Start(ctx, Options{Queues: qs, Port: *port, Log: os.Stdout})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "servicebus: listening on 127.0.0.1:%d, queues %s\n  ServiceBusConnection=%s\n", e.Port(), *queues, e.ConnectionString())
	select {
	case <-ctx.Done():
	case <-e.exited:
	}
	return e.Close()
}

// queueFlag renders queues in the -queues syntax (the emulator's SBEMU_QUEUES).
func queueFlag(qs []Queue) string {
	s, err := queueSpecs(qs)
	if err != nil {
		panic(err)
	}
	return s
}

// parseQueueFlag reads the -queues syntax; the emulator validates names and values again.
func parseQueueFlag(s string) ([]Queue, error) {
	var out []Queue
	for _, spec := range cli.SplitList(s) {
		name, opts, _ := strings.Cut(spec, ":")
		q := Queue{Name: strings.TrimSpace(name)}
		for opt := range strings.SplitSeq(opts, ":") {
			if opt == "" {
				continue
			}
			k, v, _ := strings.Cut(opt, "=")
			var err error
			switch k {
			case "maxDeliveryCount":
				q.MaxDeliveryCount, err = strconv.Atoi(v)
			case "lockDuration":
				q.LockDuration, err = time.ParseDuration(v)
			case "duplicateDetection":
				q.DuplicateDetection, err = strconv.ParseBool(v)
			case "maxMessageSize":
				q.MaxMessageSize, err = strconv.Atoi(v)
			default:
				err = fmt.Errorf("unknown option %q (known: maxDeliveryCount, lockDuration, duplicateDetection, maxMessageSize)", k)
			}
			if err != nil {
				return nil, fmt.Errorf("queue %s: %w", q.Name, err)
			}
		}
		out = append(out, q)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no queues")
	}
	if _, err := queueSpecs(out); err != nil {
		return nil, err
	}
	return out, nil
}
