package tokens

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
)

func TestNeedsInteraction(t *testing.T) {
	callErr := func(status int, body string) error {
		return fmt.Errorf("wrapped: %w", msalerrors.CallErr{
			Resp: &http.Response{StatusCode: status},
			Err:  errors.New(body),
		})
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"revoked refresh token", callErr(400, `{"error":"invalid_grant","error_description":"AADSTS50173"}`), true},
		{"consent missing", callErr(400, `{"error":"invalid_grant","suberror":"consent_required"}`), true},
		{"MFA required", callErr(400, `{"error":"interaction_required"}`), true},
		{"nothing cached", errors.New("no token found"), true},
		{"provider down", callErr(503, `{"error":"temporarily_unavailable"}`), false},
		{"bad client secret", callErr(401, `{"error":"invalid_client"}`), false},
		{"network", errors.New("dial tcp: connection refused"), false},
	}
	for _, tt := range tests {
		if got := needsInteraction(tt.err); got != tt.want {
			t.Errorf("%s: needsInteraction = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestConsentRequired(t *testing.T) {
	for body, want := range map[string]bool{
		`{"error":"invalid_grant","error_description":"AADSTS65001: The user or administrator has not consented"}`: true,
		`{"error":"invalid_grant","suberror":"consent_required"}`:                                                  true,
		`{"error":"invalid_grant","error_codes":[65001]}`:                                                          true,
		`{"error":"invalid_grant","error_description":"AADSTS50173: the grant expired","trace_id":"65001"}`:        false,
	} {
		if got := consentRequired(errors.New(body)); got != want {
			t.Errorf("consentRequired(%s) = %v, want %v", body, got, want)
		}
	}
}

func TestInteractionRequiredError(t *testing.T) {
	err := fmt.Errorf("calling Orders: %w", &InteractionRequiredError{Scopes: []string{"api://orders/Orders.Read"}, ConsentRequired: true})
	var ire *InteractionRequiredError
	if !errors.Is(err, ErrInteractionRequired) || !errors.As(err, &ire) || !ire.ConsentRequired || ire.Scopes[0] != "api://orders/Orders.Read" {
		t.Errorf("err = %v: want it to be ErrInteractionRequired with its scopes", err)
	}
}

func TestIsMicrosoftCloud(t *testing.T) {
	for in, want := range map[string]bool{
		"https://login.microsoftonline.com/":      true,
		"https://login.microsoftonline.us/":       true,
		"https://login.chinacloudapi.cn/":         true,
		"https://127.0.0.1:5443/":                 false,
		"https://login.microsoftonline.com.evil/": false,
	} {
		if got := isMicrosoftCloud(in); got != want {
			t.Errorf("isMicrosoftCloud(%q) = %v", in, got)
		}
	}
}
