package main

import (
	"testing"

	"github.com/acme/my-app/internal/devidp"
)

// testCredential registers the app's credential with the stand-in's client
// and returns the environment that hands it to the app: a client secret.
func testCredential(t testing.TB, _ string, c *devidp.Client) []string {
	t.Helper()
	const secret = "test-only-client-secret-value"
	c.ClientSecret = secret
	return []string{"AzureAd__ClientCredentials__0__ClientSecret=" + secret}
}
