package generator

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/mod/module"
)

// A FieldError says what is wrong with one option. Field is the option's
// name, which is also the name of the command-line flag that sets it
// ("client-id"); Err names the value and what is allowed.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

func fieldError(field string, err error) *FieldError {
	return &FieldError{Field: field, Err: err}
}

// OwnRoutes are the generated app's own routes; the callback path must not
// be one of them.
var OwnRoutes = []string{"/", "/signin", "/signout", "/profile", "/account", "/healthz", "/favicon.ico", SignedOutCallbackPath}

// ownPrefixes are the app's own subtrees: the API pages and static files.
var ownPrefixes = []string{"/apis/", "/static/"}

var (
	guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	nameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	// labelRE is one DNS label: letters, digits and inner hyphens.
	labelRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	// pathRE is the characters a callback path may use.
	pathRE = regexp.MustCompile(`^[A-Za-z0-9/._~-]+$`)
)

// multiTenants are the tenant values that are not one directory.
var multiTenants = []string{"common", "organizations", "consumers"}

// Tenant is the AzureAd:TenantId o writes: its tenant for single-org,
// organizations or (with personal accounts) common for multi-org.
func (o Options) Tenant() string {
	if o.Auth != "multi-org" {
		return o.TenantID
	}
	if o.PersonalAccounts {
		return "common"
	}
	return "organizations"
}

// ValidateName checks a project name: letters, digits, '-', '_' and '.',
// not starting with '.' or '-'. The name is also the default directory and
// module path.
func ValidateName(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	if !nameRE.MatchString(s) {
		return fmt.Errorf("%q is not a valid project name (want letters, digits, '-', '_' and '.', not starting with '.' or '-')", s)
	}
	return nil
}

// ValidateModule checks a Go module path. A bare name such as "demo" is
// accepted (it is the default, the project name), so the check is that of
// an import path: golang.org/x/mod/module.CheckImportPath.
func ValidateModule(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	if err := module.CheckImportPath(s); err != nil {
		var pe *module.InvalidPathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("%q is not a valid module path: %v", s, err)
	}
	return nil
}

// ValidateGUID checks a GUID in its usual form,
// xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (hex digits, either case).
func ValidateGUID(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	if !guidRE.MatchString(s) {
		return fmt.Errorf("%q is not a GUID (want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", s)
	}
	return nil
}

// ValidateTenantID checks the tenant of a single-org app: a directory's
// GUID or one of its verified domains (contoso.onmicrosoft.com). The
// multi-tenant names are refused with what to use instead.
func ValidateTenantID(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	if slices.Contains(multiTenants, strings.ToLower(s)) {
		return fmt.Errorf("%q is for apps that any organization's users sign in to: use --auth multi-org (with --personal-accounts for common) instead of a tenant ID", s)
	}
	if guidRE.MatchString(s) || isDomain(s) {
		return nil
	}
	return fmt.Errorf("%q is not a tenant ID (want a GUID or a verified domain such as contoso.onmicrosoft.com)", s)
}

// ValidateDomain checks the optional domain of the directory
// (contoso.onmicrosoft.com). The empty string is allowed.
func ValidateDomain(s string) error {
	if s == "" || isDomain(s) {
		return nil
	}
	return fmt.Errorf("%q is not a domain name (want e.g. contoso.onmicrosoft.com)", s)
}

// isDomain reports whether s is a DNS name with at least two labels whose
// last label is not all digits (so not an IP address).
func isDomain(s string) bool {
	if len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if !labelRE.MatchString(l) {
			return false
		}
	}
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}

// ValidateInstance checks the Entra ID instance (the cloud's sign-in
// authority): an https URL with a host and no user info, query or fragment.
func ValidateInstance(s string) error {
	_, err := normalizeInstance(s)
	return err
}

// normalizeInstance validates the instance and returns it with a trailing
// slash.
func normalizeInstance(s string) (string, error) {
	if s == "" {
		return "", errors.New("must not be empty")
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" {
		return "", fmt.Errorf("%q is not a URL (want e.g. %s)", s, DefaultInstance)
	}
	switch {
	case u.Scheme == "":
		return "", fmt.Errorf("%q is not an absolute URL (want e.g. %s)", s, DefaultInstance)
	case u.Scheme != "https":
		return "", fmt.Errorf("%q must use https (want e.g. %s)", s, DefaultInstance)
	case u.Host == "" || u.Hostname() == "":
		return "", fmt.Errorf("%q has no host (want e.g. %s)", s, DefaultInstance)
	case u.User != nil:
		return "", fmt.Errorf("%q must not contain user info", s)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#"):
		return "", fmt.Errorf("%q must not have a query or fragment", s)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	return u.String(), nil
}

// ValidateCallbackPath checks the path Entra ID redirects to after sign-in:
// it starts with '/', is clean, has no query, fragment or whitespace, and is
// not one of the app's own routes.
func ValidateCallbackPath(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case !strings.HasPrefix(s, "/"):
		return fmt.Errorf("%q must start with '/'", s)
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fmt.Errorf("%q must not contain whitespace", s)
	case strings.ContainsAny(s, "?#"):
		return fmt.Errorf("%q must not contain a query or fragment", s)
	case path.Clean(s) != s:
		return fmt.Errorf("%q is not a clean path (want %q)", s, path.Clean(s))
	case !pathRE.MatchString(s):
		return fmt.Errorf("%q may contain only letters, digits and - . _ ~ /", s)
	case slices.Contains(OwnRoutes, s) || slices.ContainsFunc(ownPrefixes, func(p string) bool { return strings.HasPrefix(s+"/", p) }):
		return fmt.Errorf("%q is one of the app's own routes (%s, and what is under %s)", s, strings.Join(OwnRoutes, ", "), strings.Join(ownPrefixes, " and "))
	}
	return nil
}

// Validate checks every option and returns the first problem as a
// *FieldError. It does not look at the disk: see Generate for the checks
// of the output directory and the template tree.
func (o Options) Validate() error {
	o = o.withDefaults()
	for i := range Model {
		opt := &Model[i]
		v := opt.Get(&o)
		if len(v) > 0 && !opt.Applies(&o) {
			return fieldError(opt.Name, fmt.Errorf("applies only with %s", describeWhen(opt.When)))
		}
		if !opt.Applies(&o) {
			continue
		}
		if len(v) == 0 && opt.Required {
			return fieldError(opt.Name, errors.New("must not be empty"))
		}
		for _, item := range v {
			var err error
			switch {
			case opt.Kind == OneOf || opt.Kind == Choices:
				_, err = opt.Value(item)
			case opt.Check != nil:
				err = opt.Check(item)
			}
			if err != nil {
				return fieldError(opt.Name, err)
			}
		}
	}
	for i, c := range o.Credentials {
		if slices.Contains(o.Credentials[:i], c) {
			return fieldError("credential", fmt.Errorf("%q is given twice (each credential may appear once in the chain)", c))
		}
	}
	if _, err := o.APIs(); err != nil {
		return err
	}
	if o.Output == "" {
		return fieldError("output", errors.New("must not be empty"))
	}
	return nil
}

// describeWhen says when an option applies: "--api custom".
func describeWhen(when []Condition) string {
	var parts []string
	for _, c := range when {
		parts = append(parts, "--"+c.Option+" "+strings.Join(c.Values, " or "))
	}
	return strings.Join(parts, " and ")
}

// ValidateOptionalGUID is ValidateGUID that also accepts the empty string.
func ValidateOptionalGUID(s string) error {
	if s == "" {
		return nil
	}
	return ValidateGUID(s)
}

// ValidateCertPath checks a certificate credential's file. The path is
// where the app will find the file, which may be another machine: a path
// that does not exist here is accepted, but a file that is here must be
// readable and hold a certificate (PEM), or be a PFX file.
func ValidateCertPath(s string) error {
	if s == "" {
		return nil
	}
	if strings.ContainsAny(s, "\r\n\x00") {
		return fmt.Errorf("%q is not a file path", s)
	}
	fi, err := os.Stat(s)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("%q cannot be read: %v", s, err)
	case fi.IsDir():
		return fmt.Errorf("%q is a directory, not a certificate file", s)
	}
	b, err := os.ReadFile(s)
	if err != nil {
		return fmt.Errorf("%q cannot be read: %v", s, err)
	}
	switch ext := strings.ToLower(filepath.Ext(s)); {
	case ext == ".pfx" || ext == ".p12":
		if len(b) == 0 {
			return fmt.Errorf("%q is empty", s)
		}
	case !bytes.Contains(b, []byte("-----BEGIN CERTIFICATE-----")):
		return fmt.Errorf("%q holds no PEM certificate (want a PEM file with the certificate and its key, or a .pfx/.p12 file)", s)
	}
	return nil
}

// ValidateKeyVaultURL checks a vault's URL: https, a host, no query.
func ValidateKeyVaultURL(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || !u.IsAbs():
		return fmt.Errorf("%q is not an absolute URL (want e.g. https://contoso.vault.azure.net/)", s)
	case u.Scheme != "https":
		return fmt.Errorf("%q must use https (want e.g. https://contoso.vault.azure.net/)", s)
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "":
		return fmt.Errorf("%q is not a vault's URL (want https://<vault name>.vault.azure.net/, nothing after the host)", s)
	}
	return nil
}

var keyVaultNameRE = regexp.MustCompile(`^[0-9A-Za-z-]{1,127}$`)

// ValidateKeyVaultCertName checks a certificate's name in Key Vault:
// letters, digits and '-', at most 127.
func ValidateKeyVaultCertName(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	if !keyVaultNameRE.MatchString(s) {
		return fmt.Errorf("%q is not a Key Vault certificate name (want letters, digits and '-', at most 127)", s)
	}
	return nil
}
