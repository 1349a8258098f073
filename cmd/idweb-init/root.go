package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/idweb-init/idweb-init/generator"
	"github.com/idweb-init/idweb-init/internal/prompt"
)

// genFlags are the root command's flags: the model's options go to opts,
// the others to the fields.
type genFlags struct {
	opts       generator.Options
	callsGraph bool
	answers    string
	yes        bool
	tidy       bool
	git        string
}

func (a *app) rootCmd() *cobra.Command {
	cmd, _ := a.newRootCmd()
	return cmd
}

// newRootCmd returns the root command and the flags it sets.
func (a *app) newRootCmd() (*cobra.Command, *genFlags) {
	f := &genFlags{}
	cmd := &cobra.Command{
		Use:   "idweb-init",
		Short: "Generate a Go web app that signs users in with Microsoft Entra ID",
		Long: `idweb-init generates a ready-to-run Go web app that signs users in with
Microsoft Entra ID and calls Microsoft Graph or your own APIs. Its flags
mirror "dotnet new webapp --auth SingleOrg": --calls-graph, --called-api-url
and --called-api-scopes are spellings of --api and its options.

In a terminal it asks for whatever the flags did not give, then prints the
equivalent command. Without a terminal, or with --yes, it never asks:
--name, --tenant-id and --client-id are then required (or --answers, the
.idweb-init.json of a project generated before).`,
		Example: `  idweb-init
  idweb-init --name demo --module example.com/demo \
    --tenant-id 11111111-2222-3333-4444-555555555555 \
    --client-id aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee
  idweb-init --name demo --tenant-id ... --client-id ... \
    --called-api-url https://orders.contoso.com/api \
    --called-api-scopes "api://<app id>/Orders.Read"
  idweb-init --answers demo/.idweb-init.json -o demo2
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
	// Flags come in the order the help and the README list them.
	cmd.Flags().SortFlags = false

	o := &f.opts
	defineModelFlags(cmd, o)
	cmd.Flags().BoolVar(&f.callsGraph, "calls-graph", false, "call Microsoft Graph: dotnet's spelling of --api graph (=false: --api custom or none)")
	definePath(cmd, &o.Output, "output", "o", "DIR", outputCheck, "directory to create (default: ./<name>)")
	definePath(cmd, &f.answers, "answers", "", "FILE", nil, "take the options from a project's "+generator.AnswersFile+" (flags given win)")
	definePath(cmd, &o.TemplatesDir, "templates", "", "DIR", nil, "render from this template tree (a fork made with 'idweb-init templates export')")
	cmd.Flags().BoolVar(&o.Force, "force", false, "write into a non-empty directory: replace the planned files, keep all others")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "print the file plan and write nothing")
	cmd.Flags().BoolVarP(&f.yes, "yes", "y", false, "take the defaults for everything not given; never ask")
	cmd.Flags().BoolVar(&f.tidy, "tidy", false, "run 'go mod tidy' in the project after writing it")
	defineEnum(cmd, &f.git, &gitOption)
	_ = cmd.MarkFlagDirname("output")
	_ = cmd.MarkFlagDirname("templates")
	_ = cmd.MarkFlagFilename("answers", "json")

	cmd.AddCommand(a.versionCmd(), a.templatesCmd())
	return cmd, f
}

// generate is the root command: gather the options from the flags, the
// answers file and the questions, generate, then the optional go mod
// tidy and git.
func (a *app) generate(ctx context.Context, cmd *cobra.Command, f *genFlags) error {
	o, err := a.options(cmd, f)
	if err != nil {
		return err
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

// options gathers the options: the flags, dotnet's spellings resolved to
// --api, the answers file for what the flags do not give, then the
// questions (in a terminal) or the check that nothing required is missing.
func (a *app) options(cmd *cobra.Command, f *genFlags) (generator.Options, error) {
	fs := cmd.Flags()
	o := f.opts
	given := map[string]bool{"output": fs.Changed("output")}
	for i := range generator.Model {
		given[generator.Model[i].Name] = fs.Changed(generator.Model[i].Name)
	}

	var answers *generator.Answers
	hint := ""
	if fs.Changed("answers") {
		ans, err := readAnswers(f.answers)
		if err != nil {
			return o, err
		}
		answers = &ans
		hint, _ = ans.Options["api"].(string)
	}
	api, err := resolveAPI(apiConstraints(fs, &o, f.callsGraph), hint)
	if err != nil {
		return o, err
	}
	if api != "" {
		o.API, given["api"] = api, true
	}
	if answers != nil {
		if err := applyAnswers(*answers, &o, given); err != nil {
			return o, err
		}
	}

	for _, name := range generator.Imply(&o, func(name string) bool { return given[name] }) {
		given[name] = true
	}
	if a.prompter == nil || f.yes {
		if missing := missingRequired(&o); len(missing) > 0 {
			return o, usageErrorf("missing required flags: %s (give them, or run in a terminal to be asked)", strings.Join(missing, ", "))
		}
	} else {
		asked, err := prompt.Ask(a.prompter, &o, func(name string) bool { return given[name] })
		if err != nil {
			return o, err
		}
		if len(asked) > 0 {
			fmt.Fprintf(a.stdout, "\nEquivalent command:\n  %s\n\n", equivalentCommand(o, f))
		}
	}
	// With an answers file, a bad option no flag gave is the file's fault.
	var fe *generator.FieldError
	if err := o.Validate(); answers != nil && errors.As(err, &fe) && !fs.Changed(fe.Field) {
		return o, usageErrorf("--answers: %s", fe.Error())
	}
	return o, nil
}

// missingRequired returns the flags of the required options that apply
// and have no value.
func missingRequired(o *generator.Options) []string {
	var missing []string
	for i := range generator.Model {
		opt := &generator.Model[i]
		if opt.Required && opt.Applies(o) && len(opt.Get(o)) == 0 {
			missing = append(missing, "--"+opt.Name)
		}
	}
	return missing
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
