package signin

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
)

// A code the identity provider refuses (replayed, expired) is the user's
// sign-in to start again (400); only a provider that fails or cannot be
// reached is a 502.
func TestRefused(t *testing.T) {
	callErr := func(status int, body string) error {
		return fmt.Errorf("tokens: redeem authorization code: %w", msalerrors.CallErr{
			Resp: &http.Response{StatusCode: status},
			Err:  fmt.Errorf("http call(%d): %s", status, body),
		})
	}
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"replayed code", callErr(400, `{"error":"invalid_grant","error_description":"AADSTS54005: OAuth2 Authorization code was already redeemed"}`), true},
		{"PKCE mismatch", callErr(400, `{"error":"invalid_grant","error_description":"AADSTS501481"}`), true},
		{"bad request", callErr(400, `{"error":"invalid_request"}`), true},
		{"provider down", callErr(503, `{"error":"temporarily_unavailable"}`), false},
		{"provider fails", callErr(500, ``), false},
		{"unreachable", errors.New("dial tcp: connection refused"), false},
		{"no response", msalerrors.CallErr{Err: errors.New("EOF")}, false},
	} {
		if got := refused(tt.err); got != tt.want {
			t.Errorf("%s: refused = %v, want %v", tt.name, got, tt.want)
		}
	}
}
