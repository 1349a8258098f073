package credential

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/acme/my-app/internal/config"
)

func TestNew(t *testing.T) {
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
		{name: "first entry that loads wins", creds: []config.CredentialDescription{
			{SourceType: "ClientSecret", Skip: true}, {SourceType: "ClientSecret", ClientSecret: "s"}}},
		{name: "development secret file", creds: []config.CredentialDescription{secretEntry}, devFile: "secret"},
		{name: "missing secret", creds: []config.CredentialDescription{secretEntry},
			wantErr: "AzureAd:ClientCredentials:0:ClientSecret is empty: set the environment variable AzureAd__ClientCredentials__0__ClientSecret"},
		{name: "missing development secret file", creds: []config.CredentialDescription{secretEntry}, devFile: "nope",
			wantErr: "Development:ClientSecretFile"},
		{name: "unsupported source type", creds: []config.CredentialDescription{{SourceType: "KeyVault"}},
			wantErr: `AzureAd:ClientCredentials:0:SourceType "KeyVault" is not supported`},
		{name: "every entry skipped", creds: []config.CredentialDescription{{SourceType: "ClientSecret", Skip: true}},
			wantErr: "every entry is skipped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.Config{Dir: dir}
			cfg.AzureAd.ClientCredentials = tt.creds
			cfg.AzureAd.ClientSecret = tt.legacy
			cfg.Development.ClientSecretFile = tt.devFile
			_, err := New(context.Background(), cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("New: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
