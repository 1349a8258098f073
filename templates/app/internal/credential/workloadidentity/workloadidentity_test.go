package workloadidentity

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
	"github.com/idweb-init/idweb-init/templates/app/internal/credential"
	"github.com/idweb-init/idweb-init/templates/app/internal/credential/credentialtest"
	"github.com/idweb-init/idweb-init/templates/app/internal/devidp"
)

// trusted is the stand-in client's federated credential: the Kubernetes
// service account default/app.
var trusted = devidp.FederatedCredential{Issuer: devidp.KubernetesIssuerPath, Subject: "system:serviceaccount:default:app"}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	// As the kubelet does: a new file renamed over the old one, so a
	// reader never sees half a token.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func noEnv(string) string { return "" }

func TestContract(t *testing.T) {
	credentialtest.Run(t, credentialtest.Fixture{
		Source: Source{Getenv: noEnv},
		Valid: func(t *testing.T) (*config.Config, config.CredentialDescription) {
			p := filepath.Join(t.TempDir(), "token")
			writeFile(t, p, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln\n")
			return &config.Config{Dir: t.TempDir()}, config.CredentialDescription{SignedAssertionFileDiskPath: p}
		},
		Broken: func(t *testing.T) (*config.Config, config.CredentialDescription, string) {
			return &config.Config{Dir: t.TempDir()}, config.CredentialDescription{SignedAssertionFileDiskPath: filepath.Join(t.TempDir(), "nope")}, "SignedAssertionFileDiskPath"
		},
	})
}

// Start-up errors: one line, naming the entry and the setting or variable
// to fix.
func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	writeFile(t, empty, " \n")
	big := filepath.Join(dir, "big")
	writeFile(t, big, strings.Repeat("a", maxTokenBytes+1))
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		name string
		path string // SignedAssertionFileDiskPath
		env  string // AZURE_FEDERATED_TOKEN_FILE
		want []string
	}{
		{name: "neither the setting nor the variable", want: []string{
			"AzureAd:ClientCredentials:0:SignedAssertionFileDiskPath is empty and AZURE_FEDERATED_TOKEN_FILE is not set"}},
		{name: "missing file", path: missing, want: []string{
			"AzureAd:ClientCredentials:0:SignedAssertionFileDiskPath: the federated token file " + missing + " does not exist"}},
		{name: "missing file from the environment", env: missing, want: []string{
			"AzureAd:ClientCredentials:0 (SignedAssertionFileDiskPath is empty, so AZURE_FEDERATED_TOKEN_FILE)", missing + " does not exist"}},
		{name: "empty file", path: empty, want: []string{"AzureAd:ClientCredentials:0:SignedAssertionFileDiskPath", "is empty"}},
		{name: "not a token", path: big, want: []string{"AzureAd:ClientCredentials:0:SignedAssertionFileDiskPath", "is over 64 KiB"}},
		{name: "a directory", path: dir, want: []string{"AzureAd:ClientCredentials:0:SignedAssertionFileDiskPath", "reading the federated token file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := Source{Getenv: func(k string) string {
				if k == TokenFileEnv {
					return tt.env
				}
				return ""
			}}
			_, err := src.Load(context.Background(), &config.Config{Dir: dir},
				config.CredentialDescription{SourceType: "SignedAssertionFilePath", SignedAssertionFileDiskPath: tt.path}, "AzureAd:ClientCredentials:0")
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}

	if os.Geteuid() != 0 { // root reads any file
		t.Run("unreadable file", func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "secret")
			writeFile(t, p, "tok")
			if err := os.Chmod(p, 0); err != nil {
				t.Fatal(err)
			}
			_, err := Source{Getenv: noEnv}.Load(context.Background(), &config.Config{}, config.CredentialDescription{SignedAssertionFileDiskPath: p}, "AzureAd:ClientCredentials:2")
			if err == nil || !strings.Contains(err.Error(), "is not readable") || !strings.Contains(err.Error(), "AzureAd:ClientCredentials:2") {
				t.Errorf("Load = %v", err)
			}
		})
	}
}

// The token endpoint receives the file's current contents: the stand-in's
// service-account token is accepted, a rotated file is read again, and a
// token for a service account the client does not trust is refused.
func TestFederatedTokenFileRotation(t *testing.T) {
	p := credentialtest.StandIn(t, devidp.Client{FederatedCredentials: []devidp.FederatedCredential{trusted}})
	base := strings.TrimSuffix(p.Authority, "/"+credentialtest.TenantID)
	file := filepath.Join(t.TempDir(), "azure-identity-token")
	token := func(sa string) string {
		tok, err := p.Server.ServiceAccountToken(base, "default", sa)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	first := token("app")
	writeFile(t, file, first+"\n")

	// From AZURE_FEDERATED_TOKEN_FILE, as on AKS.
	cfg := &config.Config{}
	cfg.AzureAd.ClientCredentials = []config.CredentialDescription{{SourceType: "SignedAssertionFilePath"}}
	src := Source{Getenv: func(k string) string {
		if k == TokenFileEnv {
			return file
		}
		return ""
	}}
	ctx := context.Background()
	cred, err := credential.Load(ctx, cfg, src)
	if err != nil {
		t.Fatal(err)
	}
	if cred.Entry != "AzureAd:ClientCredentials:0 (SignedAssertionFilePath)" {
		t.Errorf("Entry = %q", cred.Entry)
	}
	if _, err := p.AppToken(ctx, cred.MSAL); err != nil {
		t.Fatalf("first token: %v", err)
	}
	if got := p.LastRequest().Get("client_assertion"); got != first {
		t.Errorf("client_assertion is not the file's token:\n%s\nwant\n%s", got, first)
	}

	rotated := token("app")
	if rotated == first {
		t.Fatal("two service-account tokens are equal")
	}
	writeFile(t, file, rotated)
	if _, err := p.AppToken(ctx, cred.MSAL); err != nil {
		t.Fatalf("token after rotation: %v", err)
	}
	if got := p.LastRequest().Get("client_assertion"); got != rotated {
		t.Errorf("after rotation the token endpoint got the old token")
	}

	// A service account the app registration does not trust: the stand-in
	// refuses it as Entra does.
	writeFile(t, file, token("intruder"))
	_, err = p.AppToken(ctx, cred.MSAL)
	if err == nil || !strings.Contains(err.Error(), "AADSTS70021") || !strings.Contains(err.Error(), "system:serviceaccount:default:intruder") {
		t.Errorf("untrusted subject: %v", err)
	}

	// The file disappears (the pod lost its projected volume): the
	// callback's error names the entry and the file.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	_, err = p.AppToken(ctx, cred.MSAL)
	if err == nil || !strings.Contains(err.Error(), "AzureAd:ClientCredentials:0") || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("removed file: %v", err)
	}
}

// A chain whose entries all fail lists each of them.
func TestChainFails(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "empty"), "")
	cfg := &config.Config{Dir: dir}
	cfg.AzureAd.ClientCredentials = []config.CredentialDescription{
		{SourceType: "SignedAssertionFilePath", SignedAssertionFileDiskPath: "missing"},
		{SourceType: "SignedAssertionFilePath", SignedAssertionFileDiskPath: "empty"},
		{SourceType: "SignedAssertionFilePath"},
	}
	_, err := credential.Load(context.Background(), cfg, Source{Getenv: noEnv})
	if err == nil {
		t.Fatal("Load succeeded")
	}
	for _, w := range []string{
		"no client credential could be loaded",
		"AzureAd:ClientCredentials:0:SignedAssertionFileDiskPath: the federated token file " + filepath.Join(dir, "missing") + " does not exist",
		"AzureAd:ClientCredentials:1:SignedAssertionFileDiskPath: the federated token file " + filepath.Join(dir, "empty") + " is empty",
		"AzureAd:ClientCredentials:2:SignedAssertionFileDiskPath is empty and AZURE_FEDERATED_TOKEN_FILE is not set",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error spans lines: %q", err)
	}
}
