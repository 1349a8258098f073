package main

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"testing"
	"time"

	"hello/internal/devidp"
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
// on 32 concurrent connections, each GET /account served over HTTP
// .
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
