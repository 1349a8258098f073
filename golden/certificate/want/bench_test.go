package main

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"testing"
	"time"

	"example.com/certapp/internal/devidp"
)

// BenchmarkProfile measures the signed-in request that calls Graph: 32
// signed-in users on 32 concurrent connections, each GET /profile taking
// the user's token from the cache and calling the stand-in's Graph /me.
// The stand-in runs in the same process and verifies every token's
// signature, so its CPU is included.
//
//	go test -run '^$' -bench Profile -benchtime 20s
func BenchmarkProfile(b *testing.B) {
	const nUsers = 32
	users := make([]devidp.User, nUsers)
	for i := range users {
		users[i] = devidp.User{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1),
			DisplayName: fmt.Sprintf("User %02d", i), UserPrincipalName: fmt.Sprintf("u%02d@contoso.example", i)}
	}
	e := newEnv(b, users)
	jars := make([]http.CookieJar, nUsers)
	for i := range users {
		c := e.browser()
		e.signIn(c, "/profile", users[i].ID)
		jars[i] = c.Jar
	}
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
			resp, err := c.Get(e.appURL + "/profile")
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("GET /profile: %s", resp.Status)
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
