// Package generator makes a Go web app that signs users in with Microsoft
// Entra ID from the app tree in package templates (or a fork of it).
//
// Generate is the whole job, in order: validate the options against the
// option model (Model; nothing on disk is looked at before they are
// valid), plan the project (NewPlan: the root's files, the selected option
// values' directories, and the packages the values select with every
// package they import), render it in memory (Render: Go files copied with
// their imports rewritten to the project's module, templates executed and
// checked, go.mod and go.sum from the module table), and write it
// atomically beside its final place before moving it there. A failure at
// any step leaves the disk as it was.
package generator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// Defaults of the generated app's configuration.
const (
	DefaultInstance       = "https://login.microsoftonline.com/"
	DefaultCallbackPath   = "/signin-oidc"
	SignedOutCallbackPath = "/signout-callback-oidc"
)

// withDefaults returns o with every empty optional field set to its
// default and the values normalised where that is safe (the instance gets
// a trailing slash, the multi-tenant names are lower-cased).
func (o Options) withDefaults() Options {
	if o.Module == "" {
		o.Module = o.Name
	}
	if o.Output == "" {
		o.Output = o.Name
	}
	if o.Instance == "" {
		o.Instance = DefaultInstance
	}
	if s, err := normalizeInstance(o.Instance); err == nil {
		o.Instance = s
	}
	if o.Auth == "" {
		o.Auth = Lookup("auth").Default
	}
	if o.CallbackPath == "" {
		o.CallbackPath = DefaultCallbackPath
	}
	if len(o.Credentials) == 0 {
		o.Credentials = []string{Lookup("credential").Default}
	}
	if o.Cache == "" {
		o.Cache = Lookup("cache").Default
	}
	if o.API == "" {
		o.API = Lookup("api").Default
	}
	if o.API == "graph" && o.GraphClient == "" {
		o.GraphClient = Lookup("graph-client").Default
	}
	if o.API == "custom" && o.APIName == "" {
		o.APIName = DefaultAPIName
	}
	return o
}

// DefaultCertPath is where a certificate credential's file is unless
// --cert-path says otherwise: a mounted secret's usual place.
const DefaultCertPath = "/var/run/secrets/app/cert.pem"

// A CredentialEntry is one AzureAd:ClientCredentials entry, as the
// credential's partials see it: [[include "clientCredential" .Dir .]].
type CredentialEntry struct {
	Value
	Index     int
	Key       string // "AzureAd:ClientCredentials:0"
	EnvPrefix string // "AzureAd__ClientCredentials__0__"
	D         *Data  // the project's data
}

// Data is what templates see: [[.Name]], [[json .ClientID]], ...
type Data struct {
	Name                  string
	Module                string
	Instance              string // ends with '/'
	TenantID              string // AzureAd:TenantId (organizations or common for multi-org)
	ClientID              string
	Domain                string // may be empty
	CallbackPath          string
	SignedOutCallbackPath string
	// MultiTenant is true for multi-org apps (common, organizations).
	MultiTenant bool
	// AllowedTenants are the only tenants whose users may sign in to a
	// multi-org app; empty: any.
	AllowedTenants []string
	// SignInAudience is the az ad app create --sign-in-audience value.
	SignInAudience string

	// Credentials are the AzureAd:ClientCredentials entries, in order.
	Credentials []CredentialEntry
	// The credentials' settings (see Options).
	CertPath                string // default DefaultCertPath
	KeyVaultURL             string
	KeyVaultCertName        string
	ManagedIdentityClientID string
	SendX5C                 bool
	Cache                   string // "memory"
	API                     string // "graph", "custom" or "none"
	GraphClient             string // "rest" or "sdk" with API graph
	// Values are the selected option values, whose directories' partials
	// fill the shared templates' blocks (see include).
	Values []Value
	// APIs are the APIs the app calls.
	APIs []APISpec
	// SignInAPI is the first API called for the user, whose scopes are
	// asked for at sign-in; nil when there is none.
	SignInAPI *APISpec
	// ConsentLater are the APIs called for the user other than SignInAPI:
	// the user consents to them when the app first calls them.
	ConsentLater []APISpec
	// FirstPage is the page a signed-out visitor is sent to sign in for:
	// that of SignInAPI, else of the first API, else the account page of
	// an app that only signs users in.
	FirstPage string
	// Answers are the options as the answers file records them.
	Answers Answers

	GeneratorVersion string
}

// NewData returns the template data for o, with defaults applied. o must
// be valid.
func NewData(o Options) Data {
	o = o.withDefaults()
	apis, _ := o.APIs()
	d := Data{
		Name:                    o.Name,
		Module:                  o.Module,
		Instance:                o.Instance,
		TenantID:                o.Tenant(),
		ClientID:                o.ClientID,
		Domain:                  o.Domain,
		CallbackPath:            o.CallbackPath,
		SignedOutCallbackPath:   SignedOutCallbackPath,
		MultiTenant:             o.Auth == "multi-org",
		AllowedTenants:          o.AllowedTenants,
		CertPath:                o.CertPath,
		KeyVaultURL:             o.KeyVaultURL,
		KeyVaultCertName:        o.KeyVaultCertName,
		ManagedIdentityClientID: o.ManagedIdentityClientID,
		SendX5C:                 o.SendX5C,
		Cache:                   o.Cache,
		API:                     o.API,
		GraphClient:             o.GraphClient,
		Values:                  o.Selected(),
		APIs:                    apis,
		Answers:                 NewAnswers(o),
		GeneratorVersion:        Version(),
	}
	if d.CertPath == "" {
		d.CertPath = DefaultCertPath
	}
	cred := Lookup("credential")
	for i, name := range o.Credentials {
		v, _ := cred.Value(name)
		d.Credentials = append(d.Credentials, CredentialEntry{
			Value: v, Index: i,
			Key:       fmt.Sprintf("AzureAd:ClientCredentials:%d", i),
			EnvPrefix: fmt.Sprintf("AzureAd__ClientCredentials__%d__", i),
			D:         &d,
		})
	}
	for i := range apis {
		if !apis[i].RequestAppToken {
			d.SignInAPI = &apis[i]
			break
		}
	}
	for _, a := range apis {
		if !a.RequestAppToken && (d.SignInAPI == nil || a.Name != d.SignInAPI.Name) {
			d.ConsentLater = append(d.ConsentLater, a)
		}
	}
	switch {
	case d.SignInAPI != nil:
		d.FirstPage = d.SignInAPI.Page()
	case len(apis) > 0:
		d.FirstPage = apis[0].Page()
	default:
		d.FirstPage = "/account"
	}
	switch o.Tenant() {
	case "common":
		d.SignInAudience = "AzureADandPersonalMicrosoftAccount"
	case "organizations":
		d.SignInAudience = "AzureADMultipleOrgs"
	case "consumers":
		d.SignInAudience = "PersonalMicrosoftAccount"
	default:
		d.SignInAudience = "AzureADMyOrg"
	}
	return d
}

// HasCredential reports whether the chain of credentials has the value
// name ("certificate").
func (d Data) HasCredential(name string) bool {
	return slices.ContainsFunc(d.Credentials, func(c CredentialEntry) bool { return c.Name == name })
}

// Action says what writing a file does to the output directory.
type Action string

const (
	Create  Action = "create"
	Replace Action = "replace" // only with Options.Force
)

// A PlannedFile is one file of the generated project.
type PlannedFile struct {
	File
	Action Action
}

// Result is what Generate did, or would do with Options.DryRun.
type Result struct {
	Options Options // with defaults applied
	Dir     string  // the output directory, absolute
	Files   []PlannedFile
	Written bool // false for a dry run
}

// Generate validates o, renders the project and writes it to o.Output
// (unless o.DryRun). Problems with the options, the output directory or
// the template tree's layout are *FieldError values; a cancelled ctx (for
// example Ctrl-C) stops it and leaves nothing behind.
func Generate(ctx context.Context, o Options) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()

	tree, err := openTree(o.TemplatesDir)
	if err != nil {
		return nil, err
	}
	plan, err := NewPlan(tree, o)
	if err != nil {
		return nil, wrapTree(o.TemplatesDir, err)
	}
	if o.TemplatesDir != "" {
		if err := checkRequired(plan, o); err != nil {
			return nil, err
		}
	}

	dir, err := filepath.Abs(o.Output)
	if err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	existing, err := checkOutput(dir, o.Output)
	if errors.Is(err, ErrNotEmpty) {
		if o.Force {
			err = checkReplaceable(dir, o.Output, plan)
		} else {
			err = fmt.Errorf("%w (use --force to replace the planned files; other files are kept)", err)
		}
	}
	if err != nil {
		return nil, fieldError("output", err)
	}

	files, err := Render(ctx, tree, plan, NewData(o))
	if err != nil {
		return nil, wrapTree(o.TemplatesDir, err)
	}

	res := &Result{Options: o, Dir: dir}
	kept := files[:0]
	for i, f := range plan.Files {
		if files[i].Skip {
			continue
		}
		kept = append(kept, files[i])
		a := Create
		if existing {
			if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(f.Path))); err == nil {
				a = Replace
			}
		}
		res.Files = append(res.Files, PlannedFile{File: f, Action: a})
	}
	if o.DryRun {
		return res, nil
	}
	if err := Write(ctx, dir, kept); err != nil {
		return nil, err
	}
	res.Written = true
	return res, nil
}

// openTree returns the tree to generate from: the embedded one, or the
// fork in dir.
func openTree(dir string) (*Tree, error) {
	if dir == "" {
		return EmbeddedTree()
	}
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return nil, fieldError("templates", fmt.Errorf("%q is not a directory", dir))
	}
	t, err := OpenTree(os.DirFS(dir), filepath.ToSlash(filepath.Clean(dir))+"/")
	if err != nil {
		return nil, fieldError("templates", fmt.Errorf("%q %w", dir, err))
	}
	return t, nil
}

// wrapTree makes a problem with a forked tree a FieldError of --templates;
// a problem with the embedded tree is a bug and stays a plain error.
func wrapTree(dir string, err error) error {
	var fe *FieldError
	if dir == "" || errors.As(err, &fe) {
		return err
	}
	return fieldError("templates", fmt.Errorf("%q: %w", dir, err))
}

// checkRequired reports the first file that the embedded tree would
// produce for o but the fork does not: a fork may add files, not drop them.
func checkRequired(plan Plan, o Options) error {
	embedded, err := EmbeddedTree()
	if err != nil {
		return err
	}
	want, err := NewPlan(embedded, o)
	if err != nil {
		return fmt.Errorf("embedded templates: %w", err)
	}
	have := make(map[string]bool, len(plan.Files))
	for _, f := range plan.Files {
		have[f.Path] = true
	}
	for _, f := range want.Files {
		if !have[f.Path] {
			return fieldError("templates", fmt.Errorf("%q lacks %s, which the embedded tree has for these options", o.TemplatesDir, f.Source))
		}
	}
	return nil
}
