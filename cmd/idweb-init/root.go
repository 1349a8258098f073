package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/idweb-init/idweb-init/generator"
	"github.com/idweb-init/idweb-init/internal/prompt"
)

// genFlags are the root command's flags.
type genFlags struct {
	opts       generator.Options
	callsGraph bool
	yes        bool
	tidy       bool
	git        gitMode
}

// required are the flags without a default, in the order they are listed
// when missing.
var required = []string{"name", "tenant-id", "client-id"}

func (a *app) rootCmd() *cobra.Command {
	f := &genFlags{}
	cmd := &cobra.Command{
		Use:   "idweb-init",
		Short: "Generate a Go web app that signs users in with Microsoft Entra ID",
		Long: `idweb-init generates a ready-to-run Go web app that signs users in with
Microsoft Entra ID and calls Microsoft Graph. Its flags mirror
"dotnet new webapp --auth SingleOrg".

In a terminal it asks for whatever the flags did not give, then prints the
equivalent command. Without a terminal, or with --yes, it never asks:
--name, --tenant-id and --client-id are then required.`,
		Example: `  idweb-init
  idweb-init --name demo --module example.com/demo \
    --tenant-id 11111111-2222-3333-4444-555555555555 \
    --client-id aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee
  idweb-init templates export ./my-templates
  idweb-init --templates ./my-templates --name demo ...`,
		Args:          noArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.generate(cmd.Context(), cmd, f)
		},
	}
	cmd.SetOut(a.stdout)
	cmd.SetErr(a.stderr)
	cmd.SetFlagErrorFunc(flagError)
	// Flags come in the order the help lists them.
	cmd.Flags().SortFlags = false

	o := &f.opts
	addChecked(cmd, &o.Name, "name", "", generator.ValidateName, "project name; also the default module path and output directory")
	addChecked(cmd, &o.Module, "module", "", generator.ValidateModule, "Go module path of the generated project (default: the name)")
	cmd.Flags().VarP(&checkedString{p: &o.Output, check: notEmpty}, "output", "o", "directory to create (default: ./<name>)")
	addChecked(cmd, &o.Instance, "instance", generator.DefaultInstance, generator.ValidateInstance, "Entra ID instance (the cloud's sign-in authority), an https URL")
	addChecked(cmd, &o.TenantID, "tenant-id", "", generator.ValidateTenantID, "directory (tenant) ID: a GUID, a verified domain, common, organizations or consumers")
	addChecked(cmd, &o.ClientID, "client-id", "", generator.ValidateGUID, "application (client) ID of the app registration, a GUID")
	addChecked(cmd, &o.Domain, "domain", "", generator.ValidateDomain, "domain of the directory, e.g. contoso.onmicrosoft.com (optional)")
	addChecked(cmd, &o.CallbackPath, "callback-path", generator.DefaultCallbackPath, generator.ValidateCallbackPath, "path of the redirect URI Entra ID sends users back to")
	addEnum(cmd, &o.Credential, "credential", generator.Credentials[0].Value, generator.Credentials, "how the app proves its identity to Entra ID")
	addEnum(cmd, &o.Cache, "cache", generator.Caches[0].Value, generator.Caches, "where the app keeps tokens")
	cmd.Flags().BoolVar(&f.callsGraph, "calls-graph", true, "call Microsoft Graph ("+generator.GraphBaseURL+", scope user.read); the only API for now")
	cmd.Flags().BoolVar(&o.Force, "force", false, "write into a non-empty directory: replace the planned files, keep all others")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "print the file plan and write nothing")
	cmd.Flags().BoolVarP(&f.yes, "yes", "y", false, "take the defaults for everything not given; never ask")
	cmd.Flags().StringVar(&o.TemplatesDir, "templates", "", "render from this template tree (a fork made with 'idweb-init templates export')")
	cmd.Flags().BoolVar(&f.tidy, "tidy", false, "run 'go mod tidy' in the project after writing it")
	addEnum(cmd, &f.git, "git", "skip", gitModes, "init: make the project a git repository with one commit (never fails the run)")
	_ = cmd.MarkFlagDirname("output")
	_ = cmd.MarkFlagDirname("templates")

	cmd.AddCommand(a.versionCmd(), a.templatesCmd())
	return cmd
}

// generate is the root command: ask or check for what is missing,
// generate, then the optional go mod tidy and git.
func (a *app) generate(ctx context.Context, cmd *cobra.Command, f *genFlags) error {
	changed := cmd.Flags().Changed
	if !f.callsGraph {
		return usageErrorf("--calls-graph: false is not supported yet (Microsoft Graph is the only API for now)")
	}
	o := f.opts
	o.API = generator.APIGraph

	if a.prompter != nil && !f.yes {
		asked, err := prompt.Ask(a.prompter, &o, changed)
		if err != nil {
			return err
		}
		if len(asked) > 0 {
			fmt.Fprintf(a.stdout, "\nEquivalent command:\n  %s\n\n", equivalentCommand(o, f))
		}
	} else {
		var missing []string
		for _, name := range required {
			if !changed(name) {
				missing = append(missing, "--"+name)
			}
		}
		if len(missing) > 0 {
			return usageErrorf("missing required flags: %s (give them, or run in a terminal to be asked)", strings.Join(missing, ", "))
		}
	}

	res, err := generator.Generate(ctx, o)
	if err != nil {
		if ctx.Err() != nil {
			return errInterrupted // Generate removed what it had written
		}
		return err
	}
	a.report(res)
	if o.DryRun {
		return nil
	}
	if f.tidy {
		if err := generator.Tidy(ctx, res.Dir); err != nil {
			return fmt.Errorf("the project is written, but %w", err)
		}
	}
	if f.git == "init" {
		if err := generator.GitInit(ctx, res.Dir); err != nil {
			fmt.Fprintf(a.stderr, "idweb-init: warning: the project is written, but not committed: %s\n", oneLine(err.Error()))
		}
	}
	return nil
}

// report prints what Generate did or would do.
func (a *app) report(res *generator.Result) {
	o := res.Options
	if !res.Written {
		fmt.Fprintf(a.stdout, "Would write %d files to %s (module %s):\n", len(res.Files), o.Output, o.Module)
		for _, pf := range res.Files {
			fmt.Fprintf(a.stdout, "  %-7s  %s\n", pf.Action, pf.Path)
		}
		fmt.Fprintln(a.stdout, "Dry run: nothing was written.")
		return
	}
	replaced := 0
	for _, pf := range res.Files {
		if pf.Action == generator.Replace {
			replaced++
		}
	}
	if replaced > 0 {
		fmt.Fprintf(a.stdout, "Wrote %d files to %s (module %s), replacing %d.\n", len(res.Files), o.Output, o.Module, replaced)
	} else {
		fmt.Fprintf(a.stdout, "Created %s (module %s, %d files).\n", o.Output, o.Module, len(res.Files))
	}
	fmt.Fprintf(a.stdout, "\nNext:\n  cd %s\n  make dev    # try it now: the app with the local Entra ID stand-in\n  go run .    # against your tenant, once its client secret is set (README.md)\n", shellQuote(o.Output))
}

// equivalentCommand is the command line that generates the same project
// without asking anything.
func equivalentCommand(o generator.Options, f *genFlags) string {
	if o.Module == "" {
		o.Module = o.Name
	}
	if o.Output == "" {
		o.Output = o.Name
	}
	args := []string{"idweb-init", "--yes",
		"--name", o.Name,
		"--module", o.Module,
		"--tenant-id", o.TenantID,
		"--client-id", o.ClientID,
	}
	if o.Instance != generator.DefaultInstance {
		args = append(args, "--instance", o.Instance)
	}
	if o.Domain != "" {
		args = append(args, "--domain", o.Domain)
	}
	if o.CallbackPath != generator.DefaultCallbackPath {
		args = append(args, "--callback-path", o.CallbackPath)
	}
	args = append(args, "--credential", string(o.Credential), "--cache", string(o.Cache))
	if o.API == generator.APIGraph {
		args = append(args, "--calls-graph")
	}
	if o.TemplatesDir != "" {
		args = append(args, "--templates", o.TemplatesDir)
	}
	if o.Force {
		args = append(args, "--force")
	}
	if o.DryRun {
		args = append(args, "--dry-run")
	}
	if f.tidy {
		args = append(args, "--tidy")
	}
	if f.git != "skip" {
		args = append(args, "--git", string(f.git))
	}
	args = append(args, "-o", o.Output)
	for i, s := range args {
		args[i] = shellQuote(s)
	}
	return strings.Join(args, " ")
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=,-]+$`)

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of idweb-init",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(a.stdout, "idweb-init %s\n", generator.Version())
			return nil
		},
	}
}

func (a *app) templatesCmd() *cobra.Command {
	tc := &cobra.Command{
		Use:   "templates",
		Short: "Work with the template tree",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	tc.AddCommand(&cobra.Command{
		Use:   "export DIR",
		Short: "Write the embedded template tree to DIR, to start a fork for --templates",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("templates export: want one argument, the directory to write to (got %d)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			err := generator.Export(cmd.Context(), dir)
			if errors.Is(err, generator.ErrNotEmpty) || errors.Is(err, generator.ErrNotDir) {
				return usageErrorf("templates export: %v", err)
			}
			if err != nil {
				return fmt.Errorf("templates export: %w", err)
			}
			fmt.Fprintf(a.stdout, "Exported the templates to %s. Render from them with:\n  idweb-init --templates %s ...\n", dir, shellQuote(dir))
			return nil
		},
	})
	return tc
}
