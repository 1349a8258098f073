package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"example.com/certapp/internal/devidp"
)

const (
	// federatedTokenFile is where, in the state directory, devidp keeps a
	// Kubernetes service-account token, as the AKS workload identity
	// webhook projects one into /var/run/secrets/azure/tokens/.
	federatedTokenFile = "azure-identity-token"
	// tokenFileRotation is how often the file is rewritten. The kubelet
	// does it at 80% of the hour a token lives; more often here, so that
	// an app that does not re-read the file fails during development.
	tokenFileRotation = 10 * time.Minute
)

// credentialless prepares what devidp.json's federated credentials need
// in make dev: for a client that trusts a Kubernetes service account, a
// token file rewritten every tokenFileRotation until ctx ends; for one
// that trusts a managed identity, the App Service–style endpoint. It
// returns the variables to give the app (AZURE_FEDERATED_TOKEN_FILE;
// IDENTITY_ENDPOINT, IDENTITY_HEADER), leaving out those already set.
func credentialless(ctx context.Context, srv *devidp.Server, cfg devidp.Config, base, stateDir string, stdout io.Writer, log *slog.Logger) ([]string, error) {
	var env []string
	setenv := func(k, v string) {
		if os.Getenv(k) == "" {
			env = append(env, k+"="+v)
		}
	}
	ns, name, ok := serviceAccount(cfg, base)
	if ok {
		path := filepath.Join(stateDir, federatedTokenFile)
		write := func() error {
			tok, err := srv.ServiceAccountToken(base, ns, name)
			if err != nil {
				return err
			}
			return writeAtomic(path, []byte(tok))
		}
		if err := write(); err != nil {
			return nil, fmt.Errorf("federated token file: %w", err)
		}
		go func() {
			t := time.NewTicker(tokenFileRotation)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if err := write(); err != nil {
						log.Error("rewriting the federated token file", "path", path, "error", err)
					}
				}
			}
		}()
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		setenv("AZURE_FEDERATED_TOKEN_FILE", abs)
		fmt.Fprintf(stdout, "devidp: Kubernetes service-account token for system:serviceaccount:%s:%s in %s (AZURE_FEDERATED_TOKEN_FILE), rewritten every %s\n",
			ns, name, path, tokenFileRotation)
	}
	if trustsManagedIdentity(cfg, base) {
		endpoint := base + devidp.AppServiceIdentityPath
		setenv("IDENTITY_ENDPOINT", endpoint)
		setenv("IDENTITY_HEADER", srv.IdentityHeader())
		sys := devidp.SystemAssignedIdentity(cfg.TenantID)
		fmt.Fprintf(stdout, "devidp: managed identity endpoint (App Service style) at %s for the app (IDENTITY_ENDPOINT, IDENTITY_HEADER); system-assigned identity: client id %s, object id %s\n",
			endpoint, sys.ClientID, sys.ObjectID)
	}
	return env, nil
}

// serviceAccount returns the first service account a client's federated
// credential trusts from the stand-in's Kubernetes issuer.
func serviceAccount(cfg devidp.Config, base string) (ns, name string, ok bool) {
	for _, c := range cfg.Clients {
		for _, fc := range c.FederatedCredentials {
			if fc.Issuer != devidp.KubernetesIssuerPath && fc.Issuer != base+devidp.KubernetesIssuerPath {
				continue
			}
			parts := strings.Split(fc.Subject, ":") // system:serviceaccount:<ns>:<name>, validated
			if len(parts) == 4 {
				return parts[2], parts[3], true
			}
		}
	}
	return "", "", false
}

// trustsManagedIdentity reports whether a client trusts tokens of the
// stand-in's tenant issuer, where its managed identities' tokens come from.
func trustsManagedIdentity(cfg devidp.Config, base string) bool {
	own := "/" + strings.ToLower(cfg.TenantID) + "/v2.0"
	for _, c := range cfg.Clients {
		for _, fc := range c.FederatedCredentials {
			if strings.EqualFold(fc.Issuer, own) || strings.EqualFold(fc.Issuer, base+own) {
				return true
			}
		}
	}
	return false
}

// writeAtomic replaces path's contents at once, as the kubelet swaps a
// projected volume's files: a reader never sees half a token.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
