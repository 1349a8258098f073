// Package credential loads the credential the app proves its identity with
// when it redeems codes and refresh tokens: here, a client secret.
//
// As in Microsoft.Identity.Web, AzureAd:ClientCredentials is an ordered list
// and the first entry that loads wins. The secret value never belongs in a
// settings file: set it in the environment,
//
//	AzureAd__ClientCredentials__0__ClientSecret=...
package credential

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/acme/my-app/internal/config"
)

// New returns the credential described by the configuration.
func New(_ context.Context, cfg *config.Config) (confidential.Credential, error) {
	ad := cfg.AzureAd
	if ad.ClientSecret != "" {
		return confidential.NewCredFromSecret(ad.ClientSecret)
	}
	var reasons []string
	for i, cd := range ad.ClientCredentials {
		key := fmt.Sprintf("AzureAd:ClientCredentials:%d", i)
		if cd.Skip {
			continue
		}
		if !strings.EqualFold(cd.SourceType, "ClientSecret") {
			reasons = append(reasons, fmt.Sprintf("%s:SourceType %q is not supported by this app (generated for ClientSecret)", key, cd.SourceType))
			continue
		}
		secret := cd.ClientSecret
		if secret == "" && cfg.Development.ClientSecretFile != "" {
			s, err := readSecretFile(cfg)
			if err != nil {
				reasons = append(reasons, err.Error())
				continue
			}
			secret = s
		}
		if secret == "" {
			reasons = append(reasons, fmt.Sprintf("%s:ClientSecret is empty: set the environment variable %s (see .env.example)",
				key, strings.ReplaceAll(key, ":", "__")+"__ClientSecret"))
			continue
		}
		return confidential.NewCredFromSecret(secret)
	}
	if len(reasons) == 0 {
		return confidential.Credential{}, fmt.Errorf("config: AzureAd:ClientCredentials: every entry is skipped")
	}
	return confidential.Credential{}, fmt.Errorf("config: no client credential could be loaded: %s", strings.Join(reasons, "; "))
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
