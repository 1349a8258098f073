// Package generator renders a Go web app that signs users in with
// Microsoft Entra ID from the template tree in package templates.
//
// Generate is the whole job, in order: validate the options (nothing on
// disk is looked at before they are valid), plan the files (the union of
// the base layer and one layer per option: credential, cache, api), render
// every file in memory (Go files are gofmt'ed and must parse, JSON files
// must be valid, go.mod must parse), and write the project atomically
// beside its final place before moving it there. A failure at any step
// leaves the disk as it was.
package generator

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/idweb-init/idweb-init/templates"
)

// Defaults of the generated app's configuration.
const (
	DefaultInstance       = "https://login.microsoftonline.com/"
	DefaultCallbackPath   = "/signin-oidc"
	SignedOutCallbackPath = "/signout-callback-oidc"
	GraphBaseURL          = "https://graph.microsoft.com/v1.0"
)

// graphScopes are the delegated scopes the app asks for to call Graph.
var graphScopes = []string{"user.read"}

// Options describe the project to generate. Empty fields take their
// defaults (see each field); Name, TenantID and ClientID are required.
type Options struct {
	Name   string // project name; required
	Module string // Go module path; default Name
	Output string // directory to create; default Name (relative to the working directory)

	Instance     string // default DefaultInstance; normalised to end with '/'
	TenantID     string // GUID, verified domain, common, organizations or consumers; required
	ClientID     string // application (client) ID, a GUID; required
	Domain       string // optional, e.g. contoso.onmicrosoft.com
	CallbackPath string // default DefaultCallbackPath

	Credential Credential // default Credentials[0]
	Cache      Cache      // default Caches[0]
	API        API        // default APIs[0]

	// TemplatesDir is a forked template tree on disk (see Export); empty
	// means the tree embedded in package templates.
	TemplatesDir string
	// Force lets Generate write into a non-empty directory: files in the
	// plan are replaced, every other file is left as it is.
	Force bool
	// DryRun plans and renders but writes nothing.
	DryRun bool
}

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
	if slices.Contains(multiTenants, strings.ToLower(o.TenantID)) {
		o.TenantID = strings.ToLower(o.TenantID)
	}
	if o.CallbackPath == "" {
		o.CallbackPath = DefaultCallbackPath
	}
	if o.Credential == "" {
		o.Credential = Credentials[0].Value
	}
	if o.Cache == "" {
		o.Cache = Caches[0].Value
	}
	if o.API == "" {
		o.API = APIs[0].Value
	}
	return o
}

// Data is what templates see: [[.Name]], [[json .ClientID]], ...
type Data struct {
	Name                  string
	Module                string
	Instance              string // ends with '/'
	TenantID              string
	ClientID              string
	Domain                string // may be empty
	CallbackPath          string
	SignedOutCallbackPath string
	Credential            string // the credential layer: "client-secret"
	Cache                 string // the cache layer: "memory"
	API                   string // the api layer: "graph"
	GraphBaseURL          string
	GraphScopes           []string
	GeneratorVersion      string
}

// NewData returns the template data for o, with defaults applied.
func NewData(o Options) Data {
	o = o.withDefaults()
	return Data{
		Name:                  o.Name,
		Module:                o.Module,
		Instance:              o.Instance,
		TenantID:              o.TenantID,
		ClientID:              o.ClientID,
		Domain:                o.Domain,
		CallbackPath:          o.CallbackPath,
		SignedOutCallbackPath: SignedOutCallbackPath,
		Credential:            string(o.Credential),
		Cache:                 string(o.Cache),
		API:                   string(o.API),
		GraphBaseURL:          GraphBaseURL,
		GraphScopes:           slices.Clone(graphScopes),
		GeneratorVersion:      Version(),
	}
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

	fsys, label, err := templateTree(o.TemplatesDir)
	if err != nil {
		return nil, err
	}
	plan, err := NewPlan(fsys, o)
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

	files, err := render(ctx, fsys, label, plan, NewData(o))
	if err != nil {
		return nil, err
	}

	res := &Result{Options: o, Dir: dir}
	for _, f := range plan.Files {
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
	if err := Write(ctx, dir, files); err != nil {
		return nil, err
	}
	res.Written = true
	return res, nil
}

// templateTree returns the tree to render from and the prefix its file
// names get in error messages, so that a message points at a real file.
func templateTree(dir string) (fs.FS, string, error) {
	if dir == "" {
		return templates.FS, "templates/", nil
	}
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return nil, "", fieldError("templates", fmt.Errorf("%q is not a directory", dir))
	}
	return os.DirFS(dir), filepath.ToSlash(filepath.Clean(dir)) + "/", nil
}

// wrapTree makes a problem with the layout of a forked tree a FieldError
// of --templates; a problem with the embedded tree is a bug and stays a
// plain error.
func wrapTree(dir string, err error) error {
	if dir == "" {
		return fmt.Errorf("embedded templates: %w", err)
	}
	return fieldError("templates", fmt.Errorf("%q: %w", dir, err))
}

// checkRequired reports the first file that the embedded tree would
// produce for o but the fork does not: a fork may add files, not drop them.
func checkRequired(plan Plan, o Options) error {
	want, err := NewPlan(templates.FS, o)
	if err != nil {
		return fmt.Errorf("embedded templates: %w", err)
	}
	have := make(map[string]bool, len(plan.Files))
	for _, f := range plan.Files {
		have[f.Template] = true
	}
	for _, f := range want.Files {
		if !have[f.Template] {
			return fieldError("templates", fmt.Errorf("%q lacks required template %s", o.TemplatesDir, f.Template))
		}
	}
	return nil
}
