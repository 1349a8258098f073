// Package managedidentity loads ClientCredentials entries of SourceType
// SignedAssertionFromManagedIdentity: the app proves its identity with a
// token of the Azure managed identity it runs as, which the app
// registration trusts as a federated identity credential (issuer
// https://login.microsoftonline.com/<tenant>/v2.0, subject the managed
// identity's object id). No secret or certificate is stored anywhere:
//
//	{"SourceType": "SignedAssertionFromManagedIdentity"}                          // system-assigned
//	{"SourceType": "SignedAssertionFromManagedIdentity", "ManagedIdentityClientId": "<guid>"} // user-assigned
//
// MSAL Go's apps/managedidentity finds the endpoint: IDENTITY_ENDPOINT and
// IDENTITY_HEADER on App Service, Functions and Container Apps, else IMDS
// (169.254.169.254) on VMs and AKS nodes. It caches the token (valid about
// a day) and renews it, so the token endpoint gets a current one for every
// request at little cost.
package managedidentity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
	msi "github.com/AzureAD/microsoft-authentication-library-for-go/apps/managedidentity"

	"github.com/idweb-init/idweb-init/templates/app/internal/config"
	"github.com/idweb-init/idweb-init/templates/app/internal/credential"
)

const (
	// DefaultTokenExchangeURL is the resource of the managed identity's
	// token when TokenExchangeUrl is empty: the audience Entra expects of
	// federated credentials in the public cloud. (A managed identity
	// endpoint takes a resource, not a scope; MSAL Go strips a trailing
	// "/.default", so "api://AzureADTokenExchange/.default" works too.)
	DefaultTokenExchangeURL = "api://AzureADTokenExchange"
	// DefaultTimeout bounds the token request Load makes. Managed identity
	// endpoints answer in milliseconds where they exist; where none does
	// (a laptop), the chain should move on to its next entry quickly.
	DefaultTimeout = 3 * time.Second
)

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Source loads managed identity credentials; it implements
// credential.Source.
type Source struct {
	// HTTPClient carries the requests to the managed identity endpoint;
	// nil means MSAL's default client. The app passes its own (which trusts
	// the local stand-in's CA in Development); tests pass one whose
	// transport sends IMDS requests to the stand-in.
	HTTPClient *http.Client
	// Timeout bounds Load's token request; 0 means DefaultTimeout.
	Timeout time.Duration
}

// SourceType implements credential.Source.
func (Source) SourceType() string { return "SignedAssertionFromManagedIdentity" }

// Load implements credential.Source. It acquires the managed identity's
// token once, so that a missing endpoint or an unknown identity fails at
// start-up, naming the entry, rather than at the first sign-in.
func (s Source) Load(ctx context.Context, _ *config.Config, d config.CredentialDescription, key string) (credential.Credential, error) {
	id, who := msi.ID(msi.SystemAssigned()), "the system-assigned managed identity"
	if c := d.ManagedIdentityClientID; c != "" {
		if !guidRE.MatchString(c) {
			return credential.Credential{}, fmt.Errorf("%s:ManagedIdentityClientId: %q is not a GUID: use the client id of a user-assigned managed identity, or leave it out for the system-assigned one", key, c)
		}
		id, who = msi.UserAssignedClientID(c), fmt.Sprintf("the user-assigned managed identity %s:ManagedIdentityClientId %s", key, c)
	}
	resource := d.TokenExchangeURL
	if resource == "" {
		resource = DefaultTokenExchangeURL
	}
	var opts []msi.ClientOption
	if s.HTTPClient != nil {
		opts = append(opts, msi.WithHTTPClient(s.HTTPClient))
	}
	client, err := msi.New(id, opts...)
	if err != nil {
		return credential.Credential{}, fmt.Errorf("%s (SignedAssertionFromManagedIdentity): %s: %s", key, who, oneLine(err.Error()))
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := client.AcquireToken(pctx, resource); err != nil {
		if ctx.Err() != nil {
			return credential.Credential{}, ctx.Err()
		}
		return credential.Credential{}, fmt.Errorf("%s (SignedAssertionFromManagedIdentity): %s got no token for %s from %s: %s",
			key, who, resource, endpoint(), describe(err, pctx.Err() != nil, timeout))
	}
	cred := confidential.NewCredFromAssertionCallback(func(ctx context.Context, _ confidential.AssertionRequestOptions) (string, error) {
		res, err := client.AcquireToken(ctx, resource)
		if err != nil {
			return "", fmt.Errorf("%s (SignedAssertionFromManagedIdentity): %s got no token for %s from %s: %s",
				key, who, resource, endpoint(), describe(err, false, 0))
		}
		return res.AccessToken, nil
	})
	return credential.Credential{MSAL: cred}, nil
}

// endpoint names the managed identity endpoint MSAL uses here.
func endpoint() string {
	src, err := msi.GetSource()
	switch {
	case err != nil:
		return "no managed identity endpoint (" + oneLine(err.Error()) + ")"
	case src == msi.AppService:
		return "the App Service managed identity endpoint IDENTITY_ENDPOINT=" + os.Getenv("IDENTITY_ENDPOINT")
	case src == msi.DefaultToIMDS:
		return "IMDS at 169.254.169.254 (IDENTITY_ENDPOINT is not set)"
	}
	return "the " + string(src) + " managed identity endpoint"
}

// describe makes MSAL's error one line: the endpoint's own message when
// it answered (Azure's "Identity not found", "Unable to load the proper
// Managed Identity."), else what went wrong on the way.
func describe(err error, timedOut bool, timeout time.Duration) string {
	var call msalerrors.CallErr
	if errors.As(err, &call) && call.Resp != nil {
		msg := call.Err.Error()
		if i := strings.Index(msg, ":\n"); i >= 0 {
			var body struct {
				Error            string `json:"error"`
				ErrorDescription string `json:"error_description"`
				Message          string `json:"message"`
			}
			if json.Unmarshal([]byte(msg[i+2:]), &body) == nil {
				switch {
				case body.ErrorDescription != "":
					return fmt.Sprintf("%d %s: %s", call.Resp.StatusCode, body.Error, oneLine(body.ErrorDescription))
				case body.Message != "":
					return fmt.Sprintf("%d %s", call.Resp.StatusCode, oneLine(body.Message))
				}
			}
		}
		return oneLine(msg)
	}
	// No answer at all: most likely not in Azure (a laptop, CI).
	hint := "no managed identity endpoint answered (outside Azure, skip this entry or let the local stand-in serve IDENTITY_ENDPOINT)"
	if timedOut {
		hint = fmt.Sprintf("no answer within %s (outside Azure, skip this entry or let the local stand-in serve IDENTITY_ENDPOINT)", timeout)
	}
	return hint + ": " + oneLine(err.Error())
}

// oneLine collapses whitespace (MSAL's messages span lines).
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
