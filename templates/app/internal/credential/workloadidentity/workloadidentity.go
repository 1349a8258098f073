// Package workloadidentity loads ClientCredentials entries of SourceType
// SignedAssertionFilePath: the app proves its identity with a token another
// issuer wrote to a file, which the app registration trusts as a federated
// identity credential. On AKS with workload identity, the webhook projects
// the pod's service-account token into the pod and names the file in
// AZURE_FEDERATED_TOKEN_FILE:
//
//	{"SourceType": "SignedAssertionFilePath"}
//
// or, with the path spelled out,
//
//	{"SourceType": "SignedAssertionFilePath", "SignedAssertionFileDiskPath": "/var/run/secrets/azure/tokens/azure-identity-token"}
//
// The kubelet rewrites the file before the token expires (about every
// 50 minutes), so the file is read again for every request to the token
// endpoint: a rotation needs no restart, and a cached old token is never
// sent.
package workloadidentity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
	"github.com/idweb-init/idweb-init/templates/app/internal/credential"
)

// TokenFileEnv is the variable the AKS workload identity webhook sets to
// the projected token's path.
const TokenFileEnv = "AZURE_FEDERATED_TOKEN_FILE"

// maxTokenBytes bounds what is read: a JWT is a few KiB; anything larger
// is the wrong file.
const maxTokenBytes = 64 << 10

// Source loads federated token files; it implements credential.Source.
type Source struct {
	// Getenv looks up AZURE_FEDERATED_TOKEN_FILE; nil means os.Getenv.
	// Tests set it rather than the process environment.
	Getenv func(string) string
}

// SourceType implements credential.Source.
func (Source) SourceType() string { return "SignedAssertionFilePath" }

// Load implements credential.Source. It checks once that the file is
// there and holds a token, so that a missing mount fails at start-up and
// names the setting; the credential reads the file again on every use.
func (s Source) Load(_ context.Context, cfg *config.Config, d config.CredentialDescription, key string) (credential.Credential, error) {
	path, setting := d.SignedAssertionFileDiskPath, key+":SignedAssertionFileDiskPath"
	if path == "" {
		getenv := s.Getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		path, setting = getenv(TokenFileEnv), key+" (SignedAssertionFileDiskPath is empty, so "+TokenFileEnv+")"
		if path == "" {
			return credential.Credential{}, fmt.Errorf("%s:SignedAssertionFileDiskPath is empty and %s is not set: set one to the federated token file (on AKS, label the pod azure.workload.identity/use=true and give it a service account with the azure.workload.identity/client-id annotation)",
				key, TokenFileEnv)
		}
	} else if !filepath.IsAbs(path) && cfg != nil && cfg.Dir != "" {
		path = filepath.Join(cfg.Dir, path)
	}
	if _, err := readToken(path); err != nil {
		return credential.Credential{}, fmt.Errorf("%s: %w", setting, err)
	}
	cred := confidential.NewCredFromAssertionCallback(func(context.Context, confidential.AssertionRequestOptions) (string, error) {
		tok, err := readToken(path)
		if err != nil {
			return "", fmt.Errorf("%s: %w", setting, err)
		}
		return tok, nil
	})
	return credential.Credential{MSAL: cred}, nil
}

// readToken returns the token in the file at path, refusing a missing,
// unreadable, empty or oversized file with a message that says which.
func readToken(path string) (string, error) {
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("the federated token file %s does not exist", path)
	case errors.Is(err, fs.ErrPermission):
		return "", fmt.Errorf("the federated token file %s is not readable by this process", path)
	case err != nil:
		return "", fmt.Errorf("reading the federated token file: %w", err)
	}
	defer f.Close()
	buf, err := io.ReadAll(io.LimitReader(f, maxTokenBytes+1))
	if err != nil {
		return "", fmt.Errorf("reading the federated token file %s: %w", path, err)
	}
	n := len(buf)
	if n > maxTokenBytes {
		return "", fmt.Errorf("the federated token file %s is over %d KiB: not a token", path, maxTokenBytes>>10)
	}
	tok := strings.TrimSpace(string(buf[:n]))
	if tok == "" {
		return "", fmt.Errorf("the federated token file %s is empty", path)
	}
	return tok, nil
}
