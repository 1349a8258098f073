package main

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"math"
	"net"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// sample is one measured request: when it started (since the start of the
// measured period) and how long it took.
type sample struct {
	at, d time.Duration
}

type loadResult struct {
	start, end     time.Time // the measured period
	samples        []sample  // successful measured requests
	errors         int       // failed measured requests
	warmupRequests int
	warmupErrors   int
	errorExamples  []string
	dials          int64 // connections the load generator opened in the measured period
	dialsTotal     int64
}

// loadConfig describes one load run.
type loadConfig struct {
	url      string
	conns    int
	warmup   time.Duration
	duration time.Duration
	jars     []*cookiejar.Jar // one per user; connection i uses jars[i%len(jars)]
	users    []benchUser
	// onPhase is called at the start of the measured period and at the
	// end of each of its windows (from a separate goroutine).
	windows int
	onPhase func(i int, t time.Time)
}

// runLoad runs conns goroutines, each with its own keep-alive connection
// and a signed-in user's cookies, looping GET url for warmup+duration.
// A request counts as measured if it started in the measured period and
// finished before its end; non-200 answers, transport errors and pages
// without the user's name are errors.
func runLoad(ctx context.Context, lc loadConfig) *loadResult {
	res := &loadResult{}
	t0 := time.Now()
	res.start = t0.Add(lc.warmup)
	res.end = res.start.Add(lc.duration)
	var measuring atomic.Bool
	var dials, dialsTotal atomic.Int64

	// Phase markers at exact instants (a timer schedules the CPU
	// snapshots; it does not synchronise anything).
	phases := make(chan struct{})
	go func() {
		defer close(phases)
		for i := 0; i <= lc.windows; i++ {
			at := res.start.Add(lc.duration * time.Duration(i) / time.Duration(lc.windows))
			t := time.NewTimer(time.Until(at))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case now := <-t.C:
				if i == 0 {
					measuring.Store(true)
				}
				if i == lc.windows {
					measuring.Store(false)
				}
				if lc.onPhase != nil {
					lc.onPhase(i, now)
				}
			}
		}
	}()

	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < lc.conns; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := lc.users[g%len(lc.users)]
			want := []byte(html.EscapeString(u.DisplayName))
			dialer := &net.Dialer{Timeout: 5 * time.Second}
			tr := &http.Transport{
				Proxy: nil,
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					dialsTotal.Add(1)
					if measuring.Load() {
						dials.Add(1)
					}
					return dialer.DialContext(ctx, network, addr)
				},
				MaxIdleConns:        1,
				MaxIdleConnsPerHost: 1,
				IdleConnTimeout:     time.Minute,
			}
			defer tr.CloseIdleConnections()
			c := &http.Client{
				Transport:     tr,
				Jar:           lc.jars[g%len(lc.jars)],
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
				Timeout:       10 * time.Second,
			}
			var (
				samples              = make([]sample, 0, 1<<14)
				buf                  bytes.Buffer
				errs, wreqs, wErrs   int
				examples             []string
				measuredStart, endAt = res.start, res.end
			)
			for ctx.Err() == nil {
				start := time.Now()
				if !start.Before(endAt) {
					break
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, lc.url, nil)
				req.Header.Set("Accept", "text/html")
				resp, err := c.Do(req)
				var problem string
				if err != nil {
					problem = err.Error()
				} else {
					buf.Reset()
					_, rerr := buf.ReadFrom(resp.Body)
					resp.Body.Close()
					switch {
					case rerr != nil:
						problem = "reading body: " + rerr.Error()
					case resp.StatusCode != http.StatusOK:
						problem = fmt.Sprintf("HTTP %d (Location %q)", resp.StatusCode, resp.Header.Get("Location"))
					case !bytes.Contains(buf.Bytes(), want):
						problem = fmt.Sprintf("HTTP 200 without %q", u.DisplayName)
					}
				}
				done := time.Now()
				inWindow := !start.Before(measuredStart) && done.Before(endAt)
				switch {
				case inWindow && problem == "":
					samples = append(samples, sample{at: start.Sub(measuredStart), d: done.Sub(start)})
				case inWindow:
					errs++
				case start.Before(measuredStart):
					wreqs++
					if problem != "" {
						wErrs++
					}
				}
				if problem != "" && ctx.Err() == nil && len(examples) < 3 {
					examples = append(examples, fmt.Sprintf("%s: %s", u.ID, problem))
				}
			}
			mu.Lock()
			res.samples = append(res.samples, samples...)
			res.errors += errs
			res.warmupRequests += wreqs
			res.warmupErrors += wErrs
			for _, e := range examples {
				if len(res.errorExamples) < 5 {
					res.errorExamples = append(res.errorExamples, e)
				}
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	<-phases
	res.dials, res.dialsTotal = dials.Load(), dialsTotal.Load()
	return res
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, or 0 if it is empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(float64(n)*p/100 - 1e-9))
	rank = max(1, min(n, rank))
	return sorted[rank-1]
}

type latencyStats struct {
	n                       int
	p50, p90, p99, max, avg time.Duration
}

func latencies(samples []sample) latencyStats {
	ds := make([]time.Duration, len(samples))
	var sum time.Duration
	for i, s := range samples {
		ds[i] = s.d
		sum += s.d
	}
	slices.Sort(ds)
	st := latencyStats{n: len(ds)}
	if len(ds) == 0 {
		return st
	}
	st.p50, st.p90, st.p99 = percentile(ds, 50), percentile(ds, 90), percentile(ds, 99)
	st.max = ds[len(ds)-1]
	st.avg = sum / time.Duration(len(ds))
	return st
}

// perSecond returns the number of requests started in each whole second of
// the measured period.
func perSecond(samples []sample, d time.Duration) []int {
	n := int(d / time.Second)
	if n == 0 {
		return nil
	}
	counts := make([]int, n)
	for _, s := range samples {
		if i := int(s.at / time.Second); i < n {
			counts[i]++
		}
	}
	return counts
}
