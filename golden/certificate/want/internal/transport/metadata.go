package transport

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// MetadataCache is a RoundTripper that keeps successful GET responses of the
// identity provider's metadata documents (OpenID configuration and instance
// discovery) for a while. Every MSAL client resolves its authority on first
// use; with this cache a new client costs no network round trip.
type MetadataCache struct {
	next http.RoundTripper
	ttl  time.Duration
	now  func() time.Time

	mu      sync.Mutex
	entries map[string]cachedResponse
}

type cachedResponse struct {
	status  int
	header  http.Header
	body    []byte
	expires time.Time
}

// NewMetadataCache wraps next; entries live for ttl.
func NewMetadataCache(next http.RoundTripper, ttl time.Duration) *MetadataCache {
	return &MetadataCache{next: next, ttl: ttl, now: time.Now, entries: map[string]cachedResponse{}}
}

func isMetadata(r *http.Request) bool {
	p := r.URL.Path
	return r.Method == http.MethodGet &&
		(strings.HasSuffix(p, "/.well-known/openid-configuration") || strings.HasSuffix(p, "/discovery/instance"))
}

// RoundTrip implements http.RoundTripper.
func (c *MetadataCache) RoundTrip(r *http.Request) (*http.Response, error) {
	if !isMetadata(r) {
		return c.next.RoundTrip(r)
	}
	key := r.URL.String()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && c.now().Before(e.expires) {
		return e.response(r), nil
	}
	resp, err := c.next.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	e = cachedResponse{status: resp.StatusCode, header: resp.Header.Clone(), body: body, expires: c.now().Add(c.ttl)}
	c.mu.Lock()
	c.entries[key] = e
	c.mu.Unlock()
	return e.response(r), nil
}

func (e cachedResponse) response(r *http.Request) *http.Response {
	return &http.Response{
		Status:        http.StatusText(e.status),
		StatusCode:    e.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        e.header.Clone(),
		Body:          io.NopCloser(bytes.NewReader(e.body)),
		ContentLength: int64(len(e.body)),
		Request:       r,
	}
}
