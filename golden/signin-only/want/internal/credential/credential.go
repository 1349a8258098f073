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

	"hello/internal/config"
)

// A Source loads the ClientCredentials entries of one SourceType.
type Source interface {
	// SourceType is the entry's SourceType, as Microsoft.Identity.Web
	// spells it ("ClientSecret", "Path", "KeyVault", ...).
	SourceType() string
	// Load returns the credential entry d describes. key is where d is in
	// the settings ("AzureAd:ClientCredentials:0"), for messages: an error
	// must say which setting to fix and how.
	Load(ctx context.Context, cfg *config.Config, d config.CredentialDescription, key string) (confidential.Credential, error)
}

// Load returns the credential of the first AzureAd:ClientCredentials entry
// that one of sources loads (or the legacy AzureAd:ClientSecret).
func Load(ctx context.Context, cfg *config.Config, sources ...Source) (confidential.Credential, error) {
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
				return confidential.Credential{}, ctx.Err()
			}
			reasons = append(reasons, err.Error())
			continue
		}
		return cred, nil
	}
	if len(reasons) == 0 {
		return confidential.Credential{}, errors.New("config: AzureAd:ClientCredentials: every entry is skipped")
	}
	return confidential.Credential{}, fmt.Errorf("config: no client credential could be loaded: %s", strings.Join(reasons, "; "))
}

func find(sources []Source, sourceType string) Source {
	for _, s := range sources {
		if strings.EqualFold(s.SourceType(), sourceType) {
			return s
		}
	}
	return nil
}
