package signin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"

	"example.com/certapp/internal/config"
)

// provider is the identity provider's OpenID configuration and keys, read
// on first use (so the app starts even while the provider is unreachable)
// and kept once read.
type provider struct {
	ad         config.AzureAd
	httpClient *http.Client

	mu       sync.Mutex
	meta     *metadata
	verifier *oidc.IDTokenVerifier
}

type metadata struct {
	Issuer             string `json:"issuer"`
	JWKSURI            string `json:"jwks_uri"`
	EndSessionEndpoint string `json:"end_session_endpoint"`
}

// idClaims are the ID token claims the app uses.
type idClaims struct {
	ObjectID          string   `json:"oid"`
	TenantID          string   `json:"tid"`
	Name              string   `json:"name"`
	PreferredUsername string   `json:"preferred_username"`
	Roles             []string `json:"roles"`
	Groups            []string `json:"groups"`
	// ClaimNames lists claims the token could not hold, with where to
	// read them: {"groups": "src1"} is the groups overage (over 200).
	ClaimNames map[string]string `json:"_claim_names"`
}

func newProvider(ad config.AzureAd, httpClient *http.Client) *provider {
	return &provider{ad: ad, httpClient: httpClient}
}

func (p *provider) load(ctx context.Context) (*metadata, *oidc.IDTokenVerifier, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.meta != nil {
		return p.meta, p.verifier, nil
	}
	wellKnown := p.ad.Authority() + "/v2.0/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, wellKnown, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := p.httpClient.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("signin: openid configuration: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("signin: openid configuration: %s", resp.Status)
	}
	var m metadata
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return nil, nil, fmt.Errorf("signin: openid configuration: %w", err)
	}
	if m.Issuer == "" || m.JWKSURI == "" {
		return nil, nil, errors.New("signin: openid configuration lacks issuer or jwks_uri")
	}
	// The key set fetches keys with the app's HTTP client, lazily, and
	// again when a token names an unknown key (key rotation).
	keys := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), p.httpClient), m.JWKSURI)
	p.verifier = oidc.NewVerifier(m.Issuer, keys, &oidc.Config{
		ClientID:             p.ad.ClientID,
		SupportedSigningAlgs: []string{oidc.RS256},
		// Multi-tenant issuers name each user's tenant; checked in verify.
		SkipIssuerCheck: strings.Contains(m.Issuer, "{tenantid}"),
	})
	p.meta = &m
	return p.meta, p.verifier, nil
}

// verify checks the ID token's signature, issuer, audience, expiry and
// nonce, and returns its claims.
func (p *provider) verify(ctx context.Context, rawIDToken, nonce string) (idClaims, error) {
	var c idClaims
	if rawIDToken == "" {
		return c, errors.New("signin: no ID token in the token response")
	}
	m, v, err := p.load(ctx)
	if err != nil {
		return c, err
	}
	tok, err := v.Verify(ctx, rawIDToken)
	if err != nil {
		return c, fmt.Errorf("signin: ID token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(tok.Nonce), []byte(nonce)) != 1 {
		return c, errors.New("signin: ID token: nonce does not match this sign-in")
	}
	if err := tok.Claims(&c); err != nil {
		return c, fmt.Errorf("signin: ID token claims: %w", err)
	}
	if strings.Contains(m.Issuer, "{tenantid}") {
		if want := strings.ReplaceAll(m.Issuer, "{tenantid}", c.TenantID); c.TenantID == "" || tok.Issuer != want {
			return c, fmt.Errorf("signin: ID token: issuer %q is not %q", tok.Issuer, want)
		}
	}
	return c, nil
}

func (p *provider) endSessionURL(ctx context.Context) (string, error) {
	m, _, err := p.load(ctx)
	if err != nil {
		return "", err
	}
	return m.EndSessionEndpoint, nil
}
