package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"example.com/demo/internal/tokencache"
)

func TestHome(t *testing.T) {
	srv := httptest.NewServer(newHandler(tokencache.New()))
	defer srv.Close()

	for _, tc := range []struct {
		path string
		code int
		want string
	}{
		{"/", http.StatusOK, "Hello from " + "demo"},
		{"/healthz", http.StatusOK, "ok"},
		{"/nope", http.StatusNotFound, ""},
	} {
		res, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.code || !strings.Contains(string(body), tc.want) {
			t.Errorf("GET %s = %d %q, want %d containing %q", tc.path, res.StatusCode, body, tc.code, tc.want)
		}
	}
}
