package main

import (
	"testing"

	"hello/internal/devidp"
)

// testCredential registers the app's credential with the stand-in's client
// and returns the environment that hands it to the app: a client secret.
func testCredential(t testing.TB, _ string, idp *devidp.Config) ([]string, func(*env)) {
	t.Helper()
	const secret = "test-only-client-secret-value"
	idp.Clients[0].ClientSecret = secret
	return []string{"AzureAd__ClientCredentials__0__" + "ClientSecret=" + secret}, nil
}
