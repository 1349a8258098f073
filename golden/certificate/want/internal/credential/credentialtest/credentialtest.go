// Package credentialtest is the contract every credential Source keeps.
// Each source's tests run it with a fixture that knows how to describe a
// loadable entry and a broken one:
//
//	credentialtest.Run(t, credentialtest.Fixture{Source: clientsecret.Source{}, ...})
package credentialtest

import (
	"context"
	"strings"
	"testing"

	"example.com/certapp/internal/config"
	"example.com/certapp/internal/credential"
)

// A Fixture describes one Source to the contract.
type Fixture struct {
	Source credential.Source
	// Valid returns settings and an entry that Source loads.
	Valid func(t *testing.T) (*config.Config, config.CredentialDescription)
	// Broken returns settings and an entry of Source's type that cannot
	// load (a missing secret, an unreadable file), and the setting the
	// error must name ("ClientSecret", "CertificateDiskPath").
	Broken func(t *testing.T) (*config.Config, config.CredentialDescription, string)
}

// Run runs the contract for f.
func Run(t *testing.T, f Fixture) {
	t.Helper()
	ctx := context.Background()
	if f.Source.SourceType() == "" {
		t.Fatal("SourceType is empty")
	}

	t.Run("a valid entry loads, alone and after entries that do not", func(t *testing.T) {
		cfg, d := f.Valid(t)
		if d.SourceType == "" {
			d.SourceType = f.Source.SourceType()
		}
		if _, err := f.Source.Load(ctx, cfg, d, "AzureAd:ClientCredentials:0"); err != nil {
			t.Fatalf("Load: %v", err)
		}
		cfg.AzureAd.ClientCredentials = []config.CredentialDescription{
			{SourceType: "NoSuchSource"},
			{SourceType: f.Source.SourceType(), Skip: true},
			d,
		}
		if _, err := credential.Load(ctx, cfg, f.Source); err != nil {
			t.Fatalf("the third entry should load: %v", err)
		}
	})

	t.Run("a broken entry names its setting, and the chain lists every entry", func(t *testing.T) {
		cfg, d, setting := f.Broken(t)
		if d.SourceType == "" {
			d.SourceType = f.Source.SourceType()
		}
		_, err := f.Source.Load(ctx, cfg, d, "AzureAd:ClientCredentials:1")
		if err == nil {
			t.Fatal("Load of a broken entry succeeded")
		}
		if !strings.Contains(err.Error(), "AzureAd:ClientCredentials:1") || !strings.Contains(err.Error(), setting) {
			t.Errorf("error %q does not name AzureAd:ClientCredentials:1 and %s", err, setting)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("error spans lines: %q", err)
		}
		cfg.AzureAd.ClientCredentials = []config.CredentialDescription{{SourceType: "NoSuchSource"}, d}
		_, err = credential.Load(ctx, cfg, f.Source)
		if err == nil {
			t.Fatal("a chain of entries that cannot load loaded")
		}
		for _, want := range []string{`AzureAd:ClientCredentials:0:SourceType "NoSuchSource" is not supported`, "AzureAd:ClientCredentials:1"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("chain error %q lacks %q", err, want)
			}
		}
	})

	t.Run("a skipped entry is not loaded", func(t *testing.T) {
		cfg, d := f.Valid(t)
		d.SourceType = f.Source.SourceType()
		d.Skip = true
		cfg.AzureAd.ClientCredentials = []config.CredentialDescription{d}
		if _, err := credential.Load(ctx, cfg, f.Source); err == nil || !strings.Contains(err.Error(), "every entry is skipped") {
			t.Errorf("Load = %v, want 'every entry is skipped'", err)
		}
	})
}
