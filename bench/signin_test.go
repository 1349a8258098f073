package main

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The sign-in helper builds against the stand-in package as it is now,
// the template tree's internal/devidp that every project gets: a change
// of devidp.SignIn breaks this test, not the next benchmark run.
func TestSignInHelperBuildsAgainstTheStandIn(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	app, err := filepath.Abs(filepath.Join("..", "templates", "app"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	bin, err := buildSignInHelper(context.Background(), app, tmp, os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatal(err)
	}
	// Through the overlay only: nothing was written into the tree.
	if _, err := os.Stat(filepath.Join(app, filepath.FromSlash(helperDir))); err == nil {
		t.Errorf("%s was written into the project", helperDir)
	}
	// It refuses bad input with one line, exit status 1.
	cmd := exec.Command(bin)
	cmd.Stdin = strings.NewReader("not json")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.HasPrefix(string(out), "idweb-bench-signin: reading the input: ") {
		t.Errorf("bad input: %v, %q", err, out)
	}
}

func TestRenderHelperImportsTheProjectsStandIn(t *testing.T) {
	src, err := renderHelper("example.com/demo")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), "\t\"example.com/demo/internal/devidp\"\n") || !strings.Contains(string(src), "devidp.SignIn(") {
		t.Errorf("the helper does not use example.com/demo/internal/devidp's SignIn:\n%s", src)
	}
}

func TestReadSignIns(t *testing.T) {
	users := makeUsers(2)
	const app = "http://localhost:5000"
	line := func(id string, cookies ...string) string {
		type c struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		}
		var cs []c
		for i := 0; i+1 < len(cookies); i += 2 {
			cs = append(cs, c{cookies[i], cookies[i+1]})
		}
		b, _ := json.Marshal(map[string]any{"id": id, "cookies": cs})
		return string(b) + "\n"
	}
	out := line(users[0].ID, "idweb.session", "s1") + line(users[1].ID, "idweb.session", "s2", "other", "x")
	jars, err := readSignIns([]byte(out), app, users)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"idweb.session=s1", "idweb.session=s2; other=x"} {
		for _, path := range []string{"/", "/profile"} {
			u, _ := url.Parse(app + path)
			var got []string
			for _, c := range jars[i].Cookies(u) {
				got = append(got, c.String())
			}
			if strings.Join(got, "; ") != want {
				t.Errorf("user %d, %s: cookies %q, want %q", i, path, got, want)
			}
		}
	}

	for name, bad := range map[string]string{
		"missing user": line(users[0].ID, "idweb.session", "s1"),
		"wrong order":  line(users[1].ID, "a", "b") + line(users[0].ID, "a", "b"),
		"no cookie":    line(users[0].ID) + line(users[1].ID, "a", "b"),
		"extra user":   line(users[0].ID, "a", "b") + line(users[1].ID, "a", "b") + line(users[1].ID, "a", "b"),
		"not json":     "idweb-bench-signin: oops\n",
		"empty":        "",
		"truncated":    line(users[0].ID, "a", "b") + `{"id": "`,
	} {
		if _, err := readSignIns([]byte(bad), app, users); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// writeIdpConfig adds the benchmark's users to a copy of the project's
// devidp.json and keeps the rest as it is.
func TestWriteIdpConfig(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "devidp.json"), filepath.Join(dir, "bench.json")
	const project = `{"tenantId": "t", "clients": [{"clientId": "c"}], "users": [{"id": "B0000000-0000-4000-8000-000000000001", "displayName": "Listed"}, {"id": "u1", "displayName": "Adele"}]}`
	if err := os.WriteFile(src, []byte(project), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeIdpConfig(src, dst, makeUsers(2)); err != nil {
		t.Fatal(err)
	}
	var got struct {
		TenantID string           `json:"tenantId"`
		Clients  []map[string]any `json:"clients"`
		Users    []map[string]any `json:"users"`
	}
	b, _ := os.ReadFile(dst)
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range got.Users {
		names = append(names, u["displayName"].(string))
	}
	if got.TenantID != "t" || len(got.Clients) != 1 || strings.Join(names, ",") != "Listed,Adele,Bench User 002" {
		t.Errorf("got %s", b)
	}
	if after, _ := os.ReadFile(src); string(after) != project {
		t.Error("the project's devidp.json was modified")
	}
}
