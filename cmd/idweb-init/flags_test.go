package main

import (
	"io"
	"reflect"
	"testing"

	"github.com/idweb-init/idweb-init/generator"
)

// parseOptions gathers the options from args as a run without a terminal
// does, without generating.
func parseOptions(t *testing.T, args ...string) (generator.Options, error) {
	t.Helper()
	a := &app{stdout: io.Discard, stderr: io.Discard}
	cmd, f := a.newRootCmd()
	if err := cmd.ParseFlags(args); err != nil {
		return generator.Options{}, err
	}
	return a.options(cmd, f)
}

// TestAPIFlags checks how dotnet's spellings and the API options map onto
// --api, and that list flags repeat.
func TestAPIFlags(t *testing.T) {
	const (
		url    = "https://orders.contoso.com/api"
		read   = "api://" + apiID + "/Orders.Read"
		write  = "api://" + apiID + "/Orders.Write"
		orders = "Orders=https://orders.contoso.com|api://" + apiID + "/Orders.Read"
		stock  = "Stock=https://stock.contoso.com|api://stock/.default|app"
	)
	tests := []struct {
		name string
		args []string
		want generator.Options // the API fields
	}{
		{"nothing: the default", nil, generator.Options{}},
		{"calls-graph", []string{"--calls-graph"}, generator.Options{API: "graph"}},
		{"calls-graph=false", []string{"--calls-graph=false"}, generator.Options{API: "none"}},
		{"graph-client implies graph", []string{"--graph-client", "sdk"}, generator.Options{API: "graph", GraphClient: "sdk"}},
		{"dotnet's custom API", []string{"--called-api-url", url, "--called-api-scopes", read + " " + write},
			generator.Options{API: "custom", CalledAPIURL: url, CalledAPIScopes: []string{read, write}}},
		{"scopes repeated", []string{"--api", "custom", "--called-api-url", url, "--called-api-scopes", read, "--called-api-scopes", write},
			generator.Options{API: "custom", CalledAPIURL: url, CalledAPIScopes: []string{read, write}}},
		{"api-name", []string{"--api-name", "Orders", "--called-api-url", url, "--called-api-scopes", read},
			generator.Options{API: "custom", APIName: "Orders", CalledAPIURL: url, CalledAPIScopes: []string{read}}},
		{"named APIs imply custom", []string{"--downstream-api", orders, "--downstream-api", stock},
			generator.Options{API: "custom", DownstreamAPIs: []string{orders, stock}}},
		{"named APIs with calls-graph", []string{"--downstream-api", orders, "--calls-graph"},
			generator.Options{API: "graph", DownstreamAPIs: []string{orders}}},
		{"named APIs with --api graph", []string{"--api", "graph", "--downstream-api", orders},
			generator.Options{API: "graph", DownstreamAPIs: []string{orders}}},
		{"named APIs without Graph", []string{"--calls-graph=false", "--downstream-api", orders},
			generator.Options{API: "custom", DownstreamAPIs: []string{orders}}},
		{"both spellings agree", []string{"--calls-graph", "--api", "graph"}, generator.Options{API: "graph"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseOptions(t, append(validArgs, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			want.Name, want.Module, want.TenantID, want.ClientID = "demo", "example.com/demo", tenantID, clientID
			want.Auth = "single-org" // implied by --tenant-id
			if !reflect.DeepEqual(o, want) {
				t.Errorf("options = %+v\nwant      %+v", o, want)
			}
			if err := o.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestUnexpectedArgument(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"demo"}, `unexpected argument "demo" (did you mean --name demo?)`},
		{[]string{"demo", "--tenant-id", tenantID}, `unexpected argument "demo" (did you mean --name demo?)`},
		{[]string{"--name", "demo", "other"}, `unexpected argument "other"`},
		{[]string{"a b"}, `unexpected argument "a b"`},
		{[]string{"versoin"}, `unexpected argument "versoin" (did you mean "version"?)`},
		{[]string{"templates", "demo"}, `unexpected argument "demo"`},
	}
	for _, tc := range tests {
		res := runCLI(t, tc.args...)
		if want := "idweb-init: " + tc.want + "\n"; res.code != 2 || res.stderr != want {
			t.Errorf("%q: exit %d, stderr %q; want 2, %q", tc.args, res.code, res.stderr, want)
		}
	}
}

func TestCredentialName(t *testing.T) {
	for _, o := range []generator.Options{{}, {Credentials: []string{"client-secret"}}} {
		if got := credentialName(o); got != "client secret" {
			t.Errorf("credentialName(%+v) = %q", o, got)
		}
	}
}
