// Package clientsecret loads ClientCredentials entries of SourceType
// ClientSecret: a secret of the app registration (az ad app credential
// reset). The value never belongs in a settings file: set it in the
// environment,
//
//	AzureAd__ClientCredentials__0__ClientSecret=...
//
// In Development it may come from Development:ClientSecretFile, which the
// local identity provider stand-in writes on its first run.
package clientsecret

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/acme/my-app/internal/config"
	"github.com/acme/my-app/internal/credential"
)

// Source loads client secrets; it implements credential.Source.
type Source struct{}

// SourceType implements credential.Source.
func (Source) SourceType() string { return "ClientSecret" }

// Load implements credential.Source.
func (Source) Load(_ context.Context, cfg *config.Config, d config.CredentialDescription, key string) (credential.Credential, error) {
	secret := d.ClientSecret
	if secret == "" && cfg.Development.ClientSecretFile != "" {
		s, err := readSecretFile(cfg)
		if err != nil {
			return credential.Credential{}, err
		}
		secret = s
	}
	if secret == "" {
		return credential.Credential{}, fmt.Errorf("%s:ClientSecret is empty: set the environment variable %s (see .env.example)",
			key, strings.ReplaceAll(key, ":", "__")+"__ClientSecret")
	}
	cred, err := confidential.NewCredFromSecret(secret)
	return credential.Credential{MSAL: cred}, err
}

// readSecretFile reads Development:ClientSecretFile, the secret the local
// identity provider stand-in made on its first run.
func readSecretFile(cfg *config.Config) (string, error) {
	f := cfg.Development.ClientSecretFile
	if !filepath.IsAbs(f) {
		f = filepath.Join(cfg.Dir, f)
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return "", fmt.Errorf("Development:ClientSecretFile: %w (start the identity provider stand-in once to create it)", err)
	}
	return strings.TrimSpace(string(b)), nil
}
