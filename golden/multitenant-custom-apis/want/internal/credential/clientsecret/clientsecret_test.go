package clientsecret

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/acme/my-app/internal/config"
	"github.com/acme/my-app/internal/credential"
	"github.com/acme/my-app/internal/credential/credentialtest"
)

func TestContract(t *testing.T) {
	credentialtest.Run(t, credentialtest.Fixture{
		Source: Source{},
		Valid: func(t *testing.T) (*config.Config, config.CredentialDescription) {
			return &config.Config{Dir: t.TempDir()}, config.CredentialDescription{ClientSecret: "s3cret"}
		},
		Broken: func(t *testing.T) (*config.Config, config.CredentialDescription, string) {
			return &config.Config{Dir: t.TempDir()}, config.CredentialDescription{}, "ClientSecret"
		},
	})
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "secret"), []byte("from-file\n"), 0o600)
	secretEntry := config.CredentialDescription{SourceType: "ClientSecret"}
	tests := []struct {
		name    string
		creds   []config.CredentialDescription
		legacy  string
		devFile string
		wantErr string
	}{
		{name: "secret from the environment", creds: []config.CredentialDescription{{SourceType: "ClientSecret", ClientSecret: "s"}}},
		{name: "legacy ClientSecret", legacy: "s"},
		{name: "source types match case-insensitively", creds: []config.CredentialDescription{{SourceType: "clientsecret", ClientSecret: "s"}}},
		{name: "development secret file", creds: []config.CredentialDescription{secretEntry}, devFile: "secret"},
		{name: "missing secret", creds: []config.CredentialDescription{secretEntry},
			wantErr: "AzureAd:ClientCredentials:0:ClientSecret is empty: set the environment variable AzureAd__ClientCredentials__0__ClientSecret"},
		{name: "missing development secret file", creds: []config.CredentialDescription{secretEntry}, devFile: "nope",
			wantErr: "Development:ClientSecretFile"},
		{name: "unsupported source type", creds: []config.CredentialDescription{{SourceType: "KeyVault"}},
			wantErr: `AzureAd:ClientCredentials:0:SourceType "KeyVault" is not supported by this app (it loads ClientSecret)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.Config{Dir: dir}
			cfg.AzureAd.ClientCredentials = tt.creds
			cfg.AzureAd.ClientSecret = tt.legacy
			cfg.Development.ClientSecretFile = tt.devFile
			_, err := credential.Load(context.Background(), cfg, Source{})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Load: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Load: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
