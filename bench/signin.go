package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"
)

// benchUser is a test user the benchmark adds to the stand-in's users.
type benchUser struct {
	ID          string
	DisplayName string
	UPN         string
}

func makeUsers(n int) []benchUser {
	users := make([]benchUser, n)
	for i := range users {
		users[i] = benchUser{
			ID:          fmt.Sprintf("b0000000-0000-4000-8000-%012d", i+1),
			DisplayName: fmt.Sprintf("Bench User %03d", i+1),
			UPN:         fmt.Sprintf("bench%03d@contoso.example", i+1),
		}
	}
	return users
}

// The users sign in through the generated project's own stand-in helper,
// devidp.SignIn (internal/devidp/browser.go), which drives the stand-in's
// pages like a browser without JavaScript; the benchmark has no copy of
// that code. signinhelper.tmpl is a small program around it, compiled into
// the project's build with go build -overlay: nothing is written into the
// project, and the helper builds against whatever internal/devidp the
// project has.

//go:embed signinhelper.tmpl
var helperSource string

// helperDir is where the helper appears in the project, through the overlay.
const helperDir = "cmd/idweb-bench-signin"

// renderHelper returns the helper's source for a project whose import
// path is module.
func renderHelper(module string) ([]byte, error) {
	t, err := template.New("signinhelper").Parse(helperSource)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err = t.Execute(&b, struct{ Module string }{module})
	return b.Bytes(), err
}

// buildSignInHelper compiles the helper as a package of project into
// tmp/idweb-bench-signin and returns the binary's path.
func buildSignInHelper(ctx context.Context, project, tmp string, env []string) (string, error) {
	module, err := importPath(ctx, project, env)
	if err != nil {
		return "", err
	}
	src, err := renderHelper(module)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(tmp, "signinhelper")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	mainGo := filepath.Join(dir, "main.go")
	if err := os.WriteFile(mainGo, src, 0o644); err != nil {
		return "", err
	}
	overlay, err := json.Marshal(map[string]any{"Replace": map[string]string{
		filepath.Join(project, filepath.FromSlash(helperDir), "main.go"): mainGo,
	}})
	if err != nil {
		return "", err
	}
	overlayFile := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlayFile, overlay, 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(tmp, "idweb-bench-signin")
	if _, err := runCmd(ctx, project, env, "go", "build", "-overlay", overlayFile, "-o", bin, "./"+helperDir); err != nil {
		return "", fmt.Errorf("building the sign-in helper against the project's internal/devidp: %w", err)
	}
	return bin, nil
}

// importPath is the import path of the directory dir: the module's path
// for a generated project (dir is its module's root), or a path below it
// (the template tree, templates/app in the module templates).
func importPath(ctx context.Context, dir string, env []string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Path}}\n{{.Dir}}")
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return "", fmt.Errorf("go list -m (in %s): %w", dir, err)
	}
	path, modDir, ok := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if !ok {
		return "", fmt.Errorf("go list -m (in %s): unexpected output %q", dir, out)
	}
	rel, err := relPath(modDir, dir)
	if err != nil {
		return "", err
	}
	if rel == "." {
		return path, nil
	}
	return path + "/" + filepath.ToSlash(rel), nil
}

// relPath is dir relative to root, both with symbolic links resolved.
func relPath(root, dir string) (string, error) {
	var err error
	if root, err = filepath.EvalSymlinks(root); err != nil {
		return "", err
	}
	if dir, err = filepath.EvalSymlinks(dir); err != nil {
		return "", err
	}
	rel, err := filepath.Rel(root, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("%s is not inside its module %s", dir, root)
	}
	return rel, nil
}

// signInAll signs users in with the helper and returns, per user, a cookie
// jar holding the app's cookies.
func signInAll(ctx context.Context, helper, project, appBase, trustFile string, users []benchUser) ([]*cookiejar.Jar, error) {
	type user struct {
		ID          string `json:"id"`
		DisplayName string `json:"displayName"`
	}
	in := struct {
		App   string `json:"app"`
		Trust string `json:"trust"`
		Users []user `json:"users"`
	}{App: appBase, Trust: trustFile}
	for _, u := range users {
		in.Users = append(in.Users, user{u.ID, u.DisplayName})
	}
	input, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, helper)
	cmd.Dir = project
	cmd.Stdin = bytes.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return readSignIns(stdout.Bytes(), appBase, users)
}

// readSignIns turns the helper's output (a JSON line of cookies per user,
// in order) into a cookie jar per user.
func readSignIns(out []byte, appBase string, users []benchUser) ([]*cookiejar.Jar, error) {
	app, err := url.Parse(appBase)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	jars := make([]*cookiejar.Jar, len(users))
	for i, u := range users {
		var line struct {
			ID      string `json:"id"`
			Cookies []struct {
				Name  string `json:"name"`
				Value string `json:"value"`
			} `json:"cookies"`
		}
		if err := dec.Decode(&line); err != nil {
			return nil, fmt.Errorf("the sign-in helper's answer for %s: %w", u.ID, err)
		}
		if line.ID != u.ID {
			return nil, fmt.Errorf("the sign-in helper answered for %q, want %s", line.ID, u.ID)
		}
		if len(line.Cookies) == 0 {
			return nil, fmt.Errorf("the sign-in of %s left no cookie for %s", u.ID, appBase)
		}
		jars[i], _ = cookiejar.New(nil)
		var cookies []*http.Cookie
		for _, c := range line.Cookies {
			cookies = append(cookies, &http.Cookie{Name: c.Name, Value: c.Value, Path: "/"})
		}
		jars[i].SetCookies(app, cookies)
	}
	if dec.More() {
		return nil, errors.New("the sign-in helper answered for more users than asked")
	}
	return jars, nil
}
