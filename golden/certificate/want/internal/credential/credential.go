// Package credential loads the credential the app proves its identity with
// when it redeems codes and refresh tokens.
//
// As in Microsoft.Identity.Web, AzureAd:ClientCredentials is an ordered
// list and the first entry that loads wins: for example a managed identity
// in production and a certificate file for local runs. Each SourceType is
// loaded by a Source of its own (package clientsecret, ...); the app lists
// the sources it was built with, and an entry of any other type is reported,
// not ignored. When no entry loads, the error names each entry and why.
package credential

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"example.com/certapp/internal/config"
)

// A Credential is a loaded ClientCredentials entry.
type Credential struct {
	// MSAL is what MSAL Go presents to the token endpoint. Sources whose
	// material rotates (a certificate file, a federated token file) give an
	// assertion callback that reads it anew, so a rotation needs no restart.
	MSAL confidential.Credential
	// Entry names the entry that loaded, for logs:
	// "AzureAd:ClientCredentials:1 (Path)".
	Entry string
	// Rejected, when set, is called once when the token endpoint refuses the
	// credential (invalid_client): a source that can read its material
	// again (Key Vault, after a rotation) does so, and reports whether
	// anything changed and the request is worth one retry.
	Rejected func(ctx context.Context) bool
}

// A Source loads the ClientCredentials entries of one SourceType.
type Source interface {
	// SourceType is the entry's SourceType, as Microsoft.Identity.Web
	// spells it ("ClientSecret", "Path", "KeyVault", ...).
	SourceType() string
	// Load returns the credential entry d describes. key is where d is in
	// the settings ("AzureAd:ClientCredentials:0"), for messages: an error
	// must say which setting to fix and how.
	Load(ctx context.Context, cfg *config.Config, d config.CredentialDescription, key string) (Credential, error)
}

// Load returns the credential of the first AzureAd:ClientCredentials entry
// that one of sources loads (or the legacy AzureAd:ClientSecret).
func Load(ctx context.Context, cfg *config.Config, sources ...Source) (Credential, error) {
	entries := cfg.AzureAd.ClientCredentials
	if s := cfg.AzureAd.ClientSecret; s != "" {
		// The legacy single property is an entry of its own (config
		// refuses it next to ClientCredentials).
		entries = []config.CredentialDescription{{SourceType: "ClientSecret", ClientSecret: s}}
	}
	var (
		reasons []string
		types   []string
	)
	for _, src := range sources {
		types = append(types, src.SourceType())
	}
	for i, d := range entries {
		key := fmt.Sprintf("AzureAd:ClientCredentials:%d", i)
		if d.Skip {
			continue
		}
		src := find(sources, d.SourceType)
		if src == nil {
			reasons = append(reasons, fmt.Sprintf("%s:SourceType %q is not supported by this app (it loads %s)", key, d.SourceType, strings.Join(types, ", ")))
			continue
		}
		cred, err := src.Load(ctx, cfg, d, key)
		if err != nil {
			if ctx.Err() != nil {
				return Credential{}, ctx.Err()
			}
			reasons = append(reasons, err.Error())
			continue
		}
		cred.Entry = fmt.Sprintf("%s (%s)", key, src.SourceType())
		return cred, nil
	}
	if len(reasons) == 0 {
		return Credential{}, errors.New("config: AzureAd:ClientCredentials: every entry is skipped")
	}
	return Credential{}, fmt.Errorf("config: no client credential could be loaded: %s", strings.Join(reasons, "; "))
}

func find(sources []Source, sourceType string) Source {
	for _, s := range sources {
		if strings.EqualFold(s.SourceType(), sourceType) {
			return s
		}
	}
	return nil
}
