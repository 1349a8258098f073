package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/acme/my-app/internal/devidp"
	"github.com/acme/my-app/internal/session"
	"github.com/acme/my-app/internal/signin"
	"github.com/acme/my-app/internal/tokencache"
	"github.com/acme/my-app/internal/tokens"
	"github.com/acme/my-app/internal/transport"
	"github.com/acme/my-app/internal/web"
)

// The benchmarks measure; they assert nothing about time. Run them with
//
//	go test -run '^$' -bench . -benchmem

// benchUsers returns n users for the stand-in.
func benchUsers(n int) []devidp.User {
	users := make([]devidp.User, n)
	for i := range users {
		users[i] = devidp.User{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1),
			DisplayName: fmt.Sprintf("User %02d", i), UserPrincipalName: fmt.Sprintf("u%02d@contoso.example", i)}
	}
	return users
}

// signInAll signs each user in, each in a browser of their own, and
// returns their cookie jars.
func (e *env) signInAll(users []devidp.User) []http.CookieJar {
	jars := make([]http.CookieJar, len(users))
	for i, u := range users {
		c := e.browser()
		e.signIn(c, firstPage, u.ID)
		jars[i] = c.Jar
	}
	return jars
}

// BenchmarkFirstPage measures the whole app under load: 32 signed-in users
// on 32 concurrent connections, each GET /apis/Orders served over HTTP
// , taking the user's token from the cache and calling the
// stand-in's API. The stand-in runs in the same process and verifies every
// token's signature, so its CPU is included.
func BenchmarkFirstPage(b *testing.B) {
	const nUsers = 32
	users := benchUsers(nUsers)
	e := newEnv(b, users)
	jars := e.signInAll(users)
	transport := &http.Transport{MaxIdleConnsPerHost: nUsers, MaxConnsPerHost: nUsers}
	defer transport.CloseIdleConnections()
	tokenCalls := e.idp.TokenRequests("")

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	next := make(chan int, nUsers)
	for i := range nUsers {
		next <- i
	}
	b.SetParallelism((nUsers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		user := <-next
		c := &http.Client{Transport: transport, Jar: jars[user]}
		for pb.Next() {
			resp, err := c.Get(e.appURL + firstPage)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("GET %s: %s", firstPage, resp.Status)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(after.Sys)/(1<<20), "MiB-sys")
	if n := e.idp.TokenRequests("") - tokenCalls; n != 0 {
		b.Errorf("%d token endpoint calls on the hot path", n)
	}
}

// benchCache is a token cache the benchmarks acquire tokens from.
type benchCache struct {
	name  string
	store tokencache.Store
}

// benchCaches returns the test's token cache as the app opens it.
func (e *env) benchCaches(b *testing.B) []benchCache {
	b.Helper()
	return []benchCache{{"memory", e.cache.tokens}}
}

// acquirer returns the app's token acquisition, as newApp makes it, over
// store.
func (e *env) acquirer(b *testing.B, store tokencache.Store) *tokens.Acquirer {
	b.Helper()
	cfg := e.appSettings()
	httpClient, err := transport.NewClient(cfg)
	if err != nil {
		b.Fatal(err)
	}
	acq, err := newAcquirer(context.Background(), cfg, store, httpClient, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	return acq
}

// benchScopes are the scopes of Orders, which users consent to at
// sign-in.
func (e *env) benchScopes(b *testing.B) []string {
	b.Helper()
	api, err := e.appSettings().DownstreamAPI("Orders")
	if err != nil {
		b.Fatal(err)
	}
	return api.Scopes
}

// BenchmarkSilentToken measures a silent acquisition of a token that is in
// the cache (memory), what every page calling an API does first. It
// reports ns/op and allocs/op per cache; no call reaches the identity
// provider.
func BenchmarkSilentToken(b *testing.B) {
	e := newEnv(b, testUsers)
	e.signIn(e.browser(), firstPage, testUsers[0].ID)
	user, scopes := homeAccountID(testUsers[0].ID), e.benchScopes(b)
	for _, cache := range e.benchCaches(b) {
		b.Run(cache.name, func(b *testing.B) {
			acq := e.acquirer(b, cache.store)
			ctx := context.Background()
			if _, err := acq.Token(ctx, user, scopes); err != nil {
				b.Fatal(err)
			}
			before := e.idp.TokenRequests("")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := acq.Token(ctx, user, scopes); err != nil {
					b.Fatal(err)
				}
			}
			if n := e.idp.TokenRequests("") - before; n != 0 {
				b.Fatalf("%d token endpoint calls for a cached token", n)
			}
		})
	}
}

// stubProfile is what the stub API answers.
const stubProfile = `{"displayName":"Adele Vance","userPrincipalName":"adele@contoso.example","id":"00000000-0000-4000-8000-000000000001"}`

// benchPage shows the API's answer, with the app's layout.
var benchPage = web.Template(fstest.MapFS{"bench.html": {Data: []byte(
	`{{define "page"}}{{template "header" .}}<h1>{{.Data.DisplayName}}</h1><p>{{.Data.UserPrincipalName}}</p>{{template "footer" .}}{{end}}`)}},
	"bench.html")

// BenchmarkSignedInRequest measures a profile-style request: the app's
// session check, a token for the user, a call of a local stub API with it
// and the answer rendered in the app's layout. The same handler runs first
// with a fixed token ("fixed-token": what the request costs when tokens
// are free), then with tokens from the cache; each of those reports
// "vs-fixed", its throughput as a fraction of the fixed token's (1: the
// token costs nothing). 32 signed-in users, 32 concurrent requests.
func BenchmarkSignedInRequest(b *testing.B) {
	const nUsers = 32
	users := benchUsers(nUsers)
	e := newEnv(b, users)
	appURL, _ := url.Parse(e.appURL)
	cookies := make([]string, nUsers)
	for i, jar := range e.signInAll(users) {
		var pairs []string
		for _, ck := range jar.Cookies(appURL) {
			pairs = append(pairs, ck.Name+"="+ck.Value)
		}
		cookies[i] = strings.Join(pairs, "; ")
	}
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, stubProfile)
	}))
	b.Cleanup(stub.Close)
	apiClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: nUsers}}
	scopes := e.benchScopes(b)

	type tokenSource struct {
		name  string
		token func(ctx context.Context, user string) (string, error)
	}
	sources := []tokenSource{{"fixed-token", func(context.Context, string) (string, error) { return "fixed", nil }}}
	for _, cache := range e.benchCaches(b) {
		acq := e.acquirer(b, cache.store)
		sources = append(sources, tokenSource{cache.name, func(ctx context.Context, user string) (string, error) {
			return acq.Token(ctx, user, scopes)
		}})
	}

	var fixed time.Duration // per request, with the fixed token
	for _, src := range sources {
		b.Run(src.name, func(b *testing.B) {
			h := e.benchHandler(b, func(r *http.Request, u session.User) (web.View, error) {
				token, err := src.token(r.Context(), u.HomeAccountID)
				if err != nil {
					return web.View{}, err
				}
				req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, stub.URL+"/me", nil)
				if err != nil {
					return web.View{}, err
				}
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := apiClient.Do(req)
				if err != nil {
					return web.View{}, err
				}
				defer resp.Body.Close()
				var me struct{ DisplayName, UserPrincipalName string }
				if err := json.NewDecoder(resp.Body).Decode(&me); err != nil {
					return web.View{}, err
				}
				return web.View{Template: benchPage, Data: me}, nil
			})
			var next atomic.Int64
			b.SetParallelism((nUsers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				cookie := cookies[int(next.Add(1)-1)%nUsers]
				for pb.Next() {
					r := httptest.NewRequest(http.MethodGet, e.appURL+"/bench", nil)
					r.Header.Set("Cookie", cookie)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					if w.Code != http.StatusOK {
						b.Errorf("GET /bench: %d %s", w.Code, w.Header().Get("Location"))
						return
					}
				}
			})
			perRequest := time.Since(start) / time.Duration(b.N)
			b.StopTimer()
			if src.name == "fixed-token" {
				fixed = perRequest
			} else if fixed > 0 {
				b.ReportMetric(float64(fixed)/float64(perRequest), "vs-fixed")
			}
		})
	}
}

// benchHandler serves page at /bench to the app's signed-in users, with the
// app's session cookies, sign-in and layout.
func (e *env) benchHandler(b *testing.B, page web.PageFunc) http.Handler {
	b.Helper()
	cfg := e.appSettings()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	codec, err := session.NewCodecFromConfig(cfg.Session, cfg.Environment, log)
	if err != nil {
		b.Fatal(err)
	}
	cookies := session.Cookies{Codec: codec, Ended: e.cache.ended}
	signIn := signin.New(cfg.AzureAd, nil, e.acquirer(b, e.cache.tokens), cookies, http.DefaultClient, log)
	app := web.New("bench", cookies, signIn, cfg.AzureAd.SignedOutCallbackPath, log)
	app.Handle("GET /bench", "/bench", "", page)
	return app.Handler()
}
