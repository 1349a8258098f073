// Package configtest loads settings for tests: an app whose
// appsettings.json is the given document.
package configtest

import (
	"os"
	"path/filepath"
	"testing"

	"example.com/certapp/internal/config"
)

// Load writes doc as appsettings.json in a temporary directory and loads
// it for the environment env (config.Development, config.Production, ...),
// failing the test on an error.
func Load(t testing.TB, env, doc string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "appsettings.json"), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(dir, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
