package taskapi

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/taskstore"
)

// The watch's timing: a watch with no timeoutSeconds ends after 30 to 60 minutes, as the
// API server's (--min-request-timeout), and one that asked for bookmarks gets one a
// minute.
const (
	minWatchTimeout  = 30 * time.Minute
	bookmarkInterval = time.Minute
)

// initialEventsEnd is the annotation of the bookmark after a watch's initial events.
const initialEventsEnd = metav1.InitialEventsAnnotationKey

// watchEvent is a watch event as the API server streams it.
type watchEvent struct {
	Type   watch.EventType `json:"type"`
	Object any             `json:"object"`
}

// watcher is one watch's stream.
type watcher struct {
	w       http.ResponseWriter
	flush   http.Flusher
	enc     *json.Encoder
	media   mediaType
	headers bool // column definitions sent (a Table watch sends them once)
}

func (ww *watcher) send(typ watch.EventType, obj any) error {
	if err := ww.enc.Encode(watchEvent{Type: typ, Object: obj}); err != nil {
		return err
	}
	ww.flush.Flush()
	return nil
}

// sendObject sends an event of a served object, as the request's media type has it.
func (ww *watcher) sendObject(typ watch.EventType, mt *mesosv1alpha1.MesosTask) error {
	switch ww.media.as {
	case asTable:
		t, err := table([]*mesosv1alpha1.MesosTask{mt}, mt.ResourceVersion, ww.media.include, ww.media.noHeaders || ww.headers)
		if err != nil {
			return err
		}
		ww.headers = true
		return ww.send(typ, t)
	case asPartial:
		return ww.send(typ, partial(mt))
	}
	return ww.send(typ, mt)
}

// sendBookmark sends a bookmark at rev, with the initial events' end marked if asked.
func (ww *watcher) sendBookmark(rev uint64, initialEnd bool) error {
	meta := metav1.ObjectMeta{ResourceVersion: strconv.FormatUint(rev, 10)}
	if initialEnd {
		meta.Annotations = map[string]string{initialEventsEnd: "true"}
	}
	if ww.media.as == asPartial {
		return ww.send(watch.Bookmark, &metav1.PartialObjectMetadata{
			TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"}, ObjectMeta: meta})
	}
	return ww.send(watch.Bookmark, &mesosv1alpha1.MesosTask{TypeMeta: metav1.TypeMeta{APIVersion: GroupVersion.String(), Kind: Kind}, ObjectMeta: meta})
}

// watchOptions are a watch's parameters.
type watchOptions struct {
	timeout            time.Duration
	bookmarks, initial bool
	rv                 string
}

func parseWatchOptions(q url.Values) (watchOptions, error) {
	o := watchOptions{timeout: minWatchTimeout + rand.N(minWatchTimeout), bookmarks: isTrue(q.Get("allowWatchBookmarks")),
		initial: isTrue(q.Get("sendInitialEvents")), rv: q.Get("resourceVersion")}
	if s := q.Get("timeoutSeconds"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return o, fmt.Errorf("timeoutSeconds: %q is not a number of seconds", s)
		}
		if n > 0 {
			o.timeout = time.Duration(n) * time.Second
		}
	}
	return o, nil
}

// watch answers a watch: from the list's revision it names, or from now with every
// object selected as added first (no resourceVersion, 0, or sendInitialEvents).
func (h *Handler) watch(w http.ResponseWriter, r *http.Request, req request, media mediaType) {
	q := r.URL.Query()
	sel, err := parseSelector(req.namespace, q.Get("labelSelector"), q.Get("fieldSelector"))
	if err != nil {
		writeStatus(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	o, err := parseWatchOptions(q)
	if err != nil {
		writeStatus(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeStatus(w, apierrors.NewInternalError(fmt.Errorf("the connection cannot stream")))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	ww := &watcher{w: w, flush: flusher, enc: json.NewEncoder(w), media: media}

	initialItems, from, ok := h.watchStart(sel, o)
	if !ok {
		h.expired(ww, o.rv)
		return
	}
	backlog, f, err := h.Store.Follow(from)
	if err != nil {
		h.expired(ww, o.rv)
		return
	}
	defer f.Stop()
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	for _, mt := range initialItems {
		if ww.sendObject(watch.Added, mt) != nil {
			return
		}
	}
	if o.initial && o.bookmarks && ww.sendBookmark(from, true) != nil {
		return
	}
	h.stream(r.Context(), ww, sel, o, from, backlog, f)
}

// watchStart is where a watch starts: the objects it sends as added first, and the
// revision it follows from; ok false if it names a revision this replica cannot answer
// from.
func (h *Handler) watchStart(sel selector, o watchOptions) ([]*mesosv1alpha1.MesosTask, uint64, bool) {
	if !o.initial && o.rv != "" && o.rv != "0" {
		n, err := strconv.ParseUint(o.rv, 10, 64)
		return nil, n, err == nil
	}
	if o.initial && o.rv != "" && o.rv != "0" {
		// "Not older than rv": this replica's revision, or the client lists again.
		if n, err := strconv.ParseUint(o.rv, 10, 64); err != nil || n > h.Store.Revision() {
			return nil, 0, false
		}
	}
	held, revs, rev := h.Store.Snapshot(sel.matches)
	items := make([]*mesosv1alpha1.MesosTask, len(held))
	for i, mt := range held {
		items[i] = served(mt, revs[i])
	}
	return items, rev, true
}

// stream sends the backlog, then the follower's changes, until the watch ends.
func (h *Handler) stream(ctx context.Context, ww *watcher, sel selector, o watchOptions, last uint64, backlog []taskstore.Change, f *taskstore.Follower) {
	for _, ch := range backlog {
		if h.sendChange(ww, sel, ch) != nil {
			return
		}
		last = ch.Rev
	}
	end := time.NewTimer(o.timeout)
	defer end.Stop()
	// Bookmarks only for a watch that asked for them.
	var bookmark <-chan time.Time
	if o.bookmarks {
		tick := time.NewTicker(bookmarkInterval)
		defer tick.Stop()
		bookmark = tick.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-end.C:
			return
		case <-bookmark:
			if ww.sendBookmark(last, false) != nil {
				return
			}
		case ch, ok := <-f.C:
			if !ok {
				// Fallen behind: the client watches again from the last revision it got.
				return
			}
			if h.sendChange(ww, sel, ch) != nil {
				return
			}
			last = ch.Rev
		}
	}
}

// sendChange sends a change as the API server's watch cache does for a selection: added
// when it comes into it, modified within it, deleted (its last state, at the change's
// revision) when it leaves it or is gone.
func (h *Handler) sendChange(ww *watcher, sel selector, ch taskstore.Change) error {
	oldIn := ch.Old != nil && sel.matches(ch.Old)
	newIn := ch.New != nil && sel.matches(ch.New)
	switch {
	case newIn && !oldIn:
		return ww.sendObject(watch.Added, served(ch.New, ch.Rev))
	case newIn:
		return ww.sendObject(watch.Modified, served(ch.New, ch.Rev))
	case oldIn:
		return ww.sendObject(watch.Deleted, served(ch.Old, ch.Rev))
	}
	return nil
}

// expired answers a watch from a revision this replica no longer has, or never had, as
// the API server does: 200, then an error event, 410 Expired, after which a client lists
// again.
func (h *Handler) expired(ww *watcher, rv string) {
	ww.w.WriteHeader(http.StatusOK)
	st := apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %s (%d)", rv, h.Store.Revision())).ErrStatus
	st.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Status"}
	_ = ww.send(watch.Error, &st)
}
