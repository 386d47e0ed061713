package framework

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// The event stream is RecordIO: each event is "<decimal length>\n<protobuf bytes>".
// mesos-go's reader is not used: it caps a frame at 4 MiB (an OFFERS event of a large
// cluster is larger) and reads 4 MiB of a frame before it notices one is too long.

// maxLengthDigits is the most digits a frame length has: 2^64-1 has 20.
const maxLengthDigits = 20

// errNotRecordIO: the stream is not RecordIO.
type errNotRecordIO struct{ what string }

func (e *errNotRecordIO) Error() string {
	return "the event stream is not RecordIO: " + e.what
}

// errFrameTooLarge: a frame announces more than the limit.
type errFrameTooLarge struct {
	announced string // the digits of the length, possibly cut
	limit     int
}

func (e *errFrameTooLarge) Error() string {
	return fmt.Sprintf("the master announced an event of %s bytes, more than MaxEventSize (%d bytes); refused before reading it",
		e.announced, e.limit)
}

// frameReader reads the frames of an event stream, refusing one longer than max before
// allocating it.
type frameReader struct {
	r   *bufio.Reader
	max int
}

func newFrameReader(r io.Reader, maxSize int) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 32<<10), max: maxSize}
}

// next returns the next frame: io.EOF when the stream ends between two frames,
// io.ErrUnexpectedEOF within one. Empty frames (Mesos sends none) are skipped.
func (f *frameReader) next() ([]byte, error) {
	for {
		n, err := f.length()
		if err != nil {
			return nil, err
		}
		if n > 0 {
			return f.body(n)
		}
	}
}

// length reads a frame's length line.
func (f *frameReader) length() (int, error) {
	var (
		digits [maxLengthDigits]byte
		nd     int
		n      uint64
	)
	for {
		b, err := f.r.ReadByte()
		switch {
		case err != nil:
			if nd > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		case b == '\n' && nd > 0:
			if n > uint64(f.max) {
				return 0, &errFrameTooLarge{announced: string(digits[:nd]), limit: f.max}
			}
			return int(n), nil
		case b < '0' || b > '9':
			return 0, &errNotRecordIO{what: fmt.Sprintf("%q where a frame length was expected", []byte{b})}
		case nd == maxLengthDigits:
			return 0, &errFrameTooLarge{announced: "a " + fmt.Sprint(maxLengthDigits+1) + "-digit number of", limit: f.max}
		}
		digits[nd] = b
		nd++
		if n > (math.MaxUint64-9)/10 {
			n = math.MaxUint64 // more than any limit; the digits say how much
		} else {
			n = n*10 + uint64(b-'0')
		}
	}
}

// body reads a frame of n bytes, growing its buffer as the bytes come so that a frame
// announced but not sent costs no memory.
func (f *frameReader) body(n int) ([]byte, error) {
	const first = 1 << 20
	buf := make([]byte, 0, min(n, first))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(n, 2*cap(buf))-len(buf))
		}
		k, err := io.ReadFull(f.r, buf[len(buf):min(cap(buf), n)])
		buf = buf[:len(buf)+k]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return buf, nil
}

// readEvents decodes the subscription's events in the background, so that a silent
// master is noticed while a read waits. The events channel is closed when reading
// fails or ctx ends, after the reason (a *SubscribeError, or ctx's error) is sent on
// readErr. The channel holds one event: events may be large, and a reader far ahead of
// the handler would hold many of them.
func readEvents(ctx context.Context, master string, frames *frameReader) (events <-chan *scheduler.Event, readErr <-chan error) {
	out := make(chan *scheduler.Event, 1)
	errs := make(chan error, 1)
	go func() {
		defer close(out)
		for {
			e, err := nextEvent(master, frames)
			if err != nil {
				errs <- err
				return
			}
			select {
			case out <- e:
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			}
		}
	}()
	return out, errs
}

// nextEvent reads, decodes and checks one event; its error is a *SubscribeError.
func nextEvent(master string, frames *frameReader) (*scheduler.Event, error) {
	frame, err := frames.next()
	if err != nil {
		return nil, streamError(master, err)
	}
	var e scheduler.Event
	if err := e.Unmarshal(frame); err != nil {
		return nil, &SubscribeError{Reason: ReasonMalformedEvent, Master: master,
			Err: fmt.Errorf("an event of %d bytes is not a protobuf scheduler event: %w", len(frame), err)}
	}
	if err := checkEvent(&e); err != nil {
		return nil, &SubscribeError{Reason: ReasonMalformedEvent, Master: master, Err: err}
	}
	return &e, nil
}

// streamError is the SubscribeError of an event stream that could not be read.
func streamError(master string, err error) error {
	var tooLarge *errFrameTooLarge
	var notRecordIO *errNotRecordIO
	switch {
	case errors.As(err, &tooLarge):
		return &SubscribeError{Reason: ReasonEventTooLarge, Master: master, Err: err}
	case errors.As(err, &notRecordIO):
		return &SubscribeError{Reason: ReasonBadStream, Master: master, Err: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		err = errors.New("the master closed the event stream in the middle of an event")
	case errors.Is(err, io.EOF):
		err = errors.New("the master closed the event stream")
	}
	return &SubscribeError{Reason: ReasonStreamClosed, Master: master, Err: err}
}

// checkEvent refuses an event without the field its type needs, which the handlers
// read.
func checkEvent(e *scheduler.Event) error {
	var missing bool
	switch e.GetType() {
	case scheduler.Event_SUBSCRIBED:
		if e.Subscribed == nil || e.Subscribed.FrameworkID.GetValue() == "" {
			return errors.New("a SUBSCRIBED event without a framework id")
		}
	case scheduler.Event_OFFERS:
		missing = e.Offers == nil
	case scheduler.Event_RESCIND:
		missing = e.Rescind == nil
	case scheduler.Event_UPDATE:
		missing = e.Update == nil
	case scheduler.Event_FAILURE:
		missing = e.Failure == nil
	case scheduler.Event_ERROR:
		missing = e.Error == nil
	case scheduler.Event_MESSAGE:
		missing = e.Message == nil
	}
	if missing {
		return fmt.Errorf("an event of type %s without its %s field", e.GetType(), strings.ToLower(e.GetType().String()))
	}
	return nil
}

// dispatch hands one event to the handler. An event without the field its type needs
// is refused here too, not only as it is read (nextEvent): a handler dereferencing a
// missing field would take the process down.
func (c *Connection) dispatch(ctx context.Context, e *scheduler.Event) error {
	if err := checkEvent(e); err != nil {
		return &SubscribeError{Reason: ReasonMalformedEvent, Err: err}
	}
	switch e.GetType() {
	case scheduler.Event_SUBSCRIBED:
		c.handler.Subscribed(ctx, e.GetSubscribed().FrameworkID.GetValue(), e.GetSubscribed().MasterInfo)
	case scheduler.Event_OFFERS:
		c.handler.Offers(ctx, e.GetOffers().GetOffers())
	case scheduler.Event_RESCIND:
		c.handler.Rescind(ctx, e.GetRescind().OfferID)
	case scheduler.Event_UPDATE:
		status := e.GetUpdate().GetStatus()
		c.handler.Update(ctx, status, c.acker(status))
	case scheduler.Event_FAILURE:
		c.handler.Failure(ctx, e.GetFailure())
	case scheduler.Event_ERROR:
		msg := e.GetError().GetMessage()
		c.log.Info("Mesos refused the framework", "message", msg)
		c.handler.Error(ctx, msg)
		return &SubscribeError{Reason: ReasonSubscribeRefused, Err: refusal{msg}}
	case scheduler.Event_MESSAGE:
		if mh, ok := c.handler.(MessageHandler); ok {
			m := e.GetMessage()
			mh.Message(ctx, m.AgentID.Value, m.ExecutorID.Value, m.Data)
		}
	case scheduler.Event_INVERSE_OFFERS:
		if ih, ok := c.handler.(InverseOfferHandler); ok {
			ih.InverseOffers(ctx, e.GetInverseOffers().InverseOffers)
		}
	case scheduler.Event_HEARTBEAT, scheduler.Event_RESCIND_INVERSE_OFFER, scheduler.Event_UPDATE_OPERATION_STATUS:
		// An inverse offer rescinded needs no answer; a window changed or cancelled shows
		// in the agent's next offers and in the maintenance schedule (maintenance.go).
	default:
		c.log.V(1).Info("Ignoring an unknown event", "type", e.GetType().String())
	}
	return nil
}

// refusal is Mesos's ERROR event, which ends the stream it came on: a refusal of that
// stream (Master::refuseSubscription), not of the next.
type refusal struct{ message string }

func (r refusal) Error() string { return r.message }

// Refusal is the message of the ERROR event that ended a subscription with err; empty
// when something else ended it.
func Refusal(err error) string {
	var r refusal
	if errors.As(err, &r) {
		return r.message
	}
	return ""
}

// acker acknowledges one update; updates without a uuid (from the master) need none.
func (c *Connection) acker(status mesos.TaskStatus) func(context.Context) error {
	if len(status.UUID) == 0 || status.AgentID == nil {
		return func(context.Context) error { return nil }
	}
	return func(ctx context.Context) error {
		return c.Call(ctx, calls.Acknowledge(status.AgentID.Value, status.TaskID.Value, status.UUID))
	}
}
