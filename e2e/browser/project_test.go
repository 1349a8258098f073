package browser_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idweb-init/idweb-init/generator"
)

// The addresses a generated project's development files name: the app's
// (devidp.json's redirect URIs) and the stand-in's (the Development
// settings' AzureAd:Instance and API BaseUrls).
const (
	defaultAppURL = "http://localhost:5000"
	defaultIdpURL = "https://127.0.0.1:5443"
)

// project is a generated project running on free ports: the stand-in and
// the app started as make dev starts them (bin/devidp -- bin/app).
type project struct {
	name      string
	dir       string
	appURL    string // http://localhost:<port>
	appHost   string // localhost:<port>
	idpURL    string // https://127.0.0.1:<port>
	idpHost   string // 127.0.0.1:<port>
	firstPage string // where the home page's Sign in returns to
	users     []standInUser
	logPath   string // the dev command's output
	// caFile is the stand-in's local CA (.devidp/ca.pem); trustCommand the
	// command the stand-in printed to trust it; leaf its server
	// certificate.
	caFile       string
	trustCommand string
	leaf         *x509.Certificate
}

// generateProject renders a project with the generator into a temporary
// directory called name; o's name, tenant and client are set here.
func generateProject(t *testing.T, name string, o generator.Options) (string, generator.Options) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	o.Name, o.Output = "demo", dir
	o.TenantID = "11111111-2222-3333-4444-555555555555"
	o.ClientID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := generator.Generate(ctx, o); err != nil {
		t.Fatalf("generating the project: %v", err)
	}
	return dir, o
}

// startProject generates a project, builds the app and the stand-in, and
// runs them on free loopback ports until the test ends. On other ports than
// the project's 5000 and 5443 (see the package comment):
//
//   - the app listens on PORT;
//   - the stand-in listens on --addr and reads a copy of devidp.json whose
//     redirect URIs name the app's port (--config);
//   - the app's Development settings that name the stand-in (AzureAd:Instance
//     and the APIs' BaseUrl) are overridden with environment variables
//     (AzureAd__Instance=https://127.0.0.1:<port>/, ...), which the app
//     reads after appsettings.Development.json.
func startProject(t *testing.T, name string, o generator.Options, artifacts string, extraEnv ...string) *project {
	t.Helper()
	start := time.Now()
	dir, o := generateProject(t, name, o)
	p := &project{name: name, dir: dir, logPath: filepath.Join(artifacts, "dev-"+name+".log")}
	p.users = standInUsers(t, dir)
	p.firstPage = generator.NewData(o).FirstPage

	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	for _, args := range [][]string{{"build", "-o", "bin/app", "."}, {"build", "-o", "bin/devidp", "./cmd/devidp"}} {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s (in %s): %v\n%s", strings.Join(args, " "), dir, err, out)
		}
	}
	t.Logf("%s: generated and built in %s (%v)", name, dir, since(start))

	appPort, idpPort := freePort(t), freePort(t)
	p.appHost, p.idpHost = "localhost:"+strconv.Itoa(appPort), "127.0.0.1:"+strconv.Itoa(idpPort)
	p.appURL, p.idpURL = "http://"+p.appHost, "https://"+p.idpHost

	// The stand-in's registration, with the app's redirect URIs on its port.
	config := filepath.Join(t.TempDir(), "devidp.json")
	var reg any
	readJSON(t, filepath.Join(dir, "devidp.json"), &reg)
	reg = rebase(reg, defaultAppURL, p.appURL)
	writeJSON(t, config, reg)

	// The app's settings that point at the stand-in, as variables.
	var dev any
	readJSON(t, filepath.Join(dir, "appsettings.Development.json"), &dev)
	env := append(append(devEnv(), extraEnv...), "PORT="+strconv.Itoa(appPort))
	overrides := settingsOverrides(dev, defaultIdpURL, p.idpURL)
	if len(overrides) == 0 {
		t.Fatalf("appsettings.Development.json names no %s: nothing to point at the stand-in's port", defaultIdpURL)
	}
	env = append(env, overrides...)
	t.Logf("%s: the app on %s, the stand-in on %s; overrides: %s", name, p.appURL, p.idpURL, strings.Join(overrides, " "))

	p.run(t, env, "bin/devidp", "--addr", p.idpHost, "--config", config, "--", "bin/app")
	t.Logf("%s: the app and the stand-in answer (%v); output in %s", name, since(start), p.logPath)
	return p
}

// run starts the dev command in its own process group, waits until the
// stand-in and the app answer, and at the end of the test stops the whole
// group, so that no process outlives the test.
func (p *project) run(t *testing.T, env []string, argv ...string) {
	t.Helper()
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("starting %s: %v", strings.Join(argv, " "), err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(done)
	}()
	pgid := cmd.Process.Pid
	t.Cleanup(func() {
		stopGroup(t, pgid, done)
		logFile.Close()
	})
	exited := func(what string) {
		select {
		case <-done:
			t.Fatalf("%s exited (%v) before %s; its output:\n%s", argv[0], waitErr, what, tail(p.logPath, 60))
		default:
		}
	}

	// The stand-in writes its CA before it listens.
	p.caFile = filepath.Join(p.dir, ".devidp", "ca.pem")
	deadline := time.Now().Add(readyTimeout)
	var roots *x509.CertPool
	for roots == nil {
		if pemBytes, err := os.ReadFile(p.caFile); err == nil {
			roots = x509.NewCertPool()
			if !roots.AppendCertsFromPEM(pemBytes) {
				roots = nil
			}
		}
		exited("it wrote " + p.caFile)
		if time.Now().After(deadline) {
			t.Fatalf("no CA in %s within %v; output:\n%s", p.caFile, readyTimeout, tail(p.logPath, 60))
		}
		time.Sleep(pollInterval)
	}
	// The probe trusts the stand-in's CA, as the app does (through
	// .devidp/cert.pem, which holds it).
	probe := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	defer probe.CloseIdleConnections()
	for _, u := range []string{p.idpURL + "/healthz", p.appURL + "/healthz"} {
		for {
			resp, err := probe.Get(u)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
				err = fmt.Errorf("status %s", resp.Status)
			}
			exited(u + " answered")
			if time.Now().After(deadline) {
				t.Fatalf("%s did not answer within %v (last: %v); output:\n%s", u, readyTimeout, err, tail(p.logPath, 60))
			}
			time.Sleep(pollInterval * 2)
		}
	}

	// What the stand-in printed about its certificate.
	out, _ := os.ReadFile(p.logPath)
	m := regexp.MustCompile(`(?m)^devidp: TLS certificate .* \(SHA-256 ([0-9A-F:]+)\), issued by .*\n^devidp: browsers say .*; here: (.+)$`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("the stand-in did not print its certificate's fingerprint and the command that trusts its CA:\n%s", out)
	}
	p.trustCommand = string(m[2])
	certPEM, err := os.ReadFile(filepath.Join(p.dir, ".devidp", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("no certificate in .devidp/cert.pem")
	}
	if p.leaf, err = x509.ParseCertificate(block.Bytes); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(p.leaf.Raw)
	if got, want := string(m[1]), fingerprintString(sum[:]); got != want {
		t.Errorf("the stand-in printed fingerprint %s, its certificate's is %s", got, want)
	}
}

// spki is the base64 SHA-256 of the stand-in's certificate's public key,
// as Chromium's --ignore-certificate-errors-spki-list takes it.
func (p *project) spki() string {
	sum := sha256.Sum256(p.leaf.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func fingerprintString(sum []byte) string {
	var parts []string
	for _, b := range sum {
		parts = append(parts, fmt.Sprintf("%02X", b))
	}
	return strings.Join(parts, ":")
}

// freePort is a loopback port nothing listens on (it may be taken again
// before it is used, which the servers would report).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// rebase replaces the prefix from of every string in a JSON value by to.
func rebase(v any, from, to string) any {
	switch v := v.(type) {
	case string:
		if strings.HasPrefix(v, from) {
			return to + strings.TrimPrefix(v, from)
		}
	case map[string]any:
		for k, x := range v {
			v[k] = rebase(x, from, to)
		}
	case []any:
		for i, x := range v {
			v[i] = rebase(x, from, to)
		}
	}
	return v
}

// settingsOverrides returns, for every string in the settings v that
// starts with from, the environment variable that gives it the prefix to
// instead: "AzureAd__Instance=https://127.0.0.1:<port>/", sorted.
func settingsOverrides(v any, from, to string) []string {
	var out []string
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch v := v.(type) {
		case string:
			if strings.HasPrefix(v, from) {
				out = append(out, key+"="+to+strings.TrimPrefix(v, from))
			}
		case map[string]any:
			for k, x := range v {
				walk(joinKey(key, k), x)
			}
		case []any:
			for i, x := range v {
				walk(joinKey(key, strconv.Itoa(i)), x)
			}
		}
	}
	walk("", v)
	sort.Strings(out)
	return out
}

func joinKey(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "__" + k
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// standInUser is a test user of the stand-in, as devidp.json lists it.
type standInUser struct {
	ID                string `json:"id"`
	DisplayName       string `json:"displayName"`
	UserPrincipalName string `json:"userPrincipalName"`
	Mail              string `json:"mail"`
	JobTitle          string `json:"jobTitle"`
	OfficeLocation    string `json:"officeLocation"`
	TenantID          string `json:"tenantId"`
}

// standInUsers reads the test users of the stand-in's own tenant from the
// generated project's devidp.json: the login page offers a button for
// each, and the stand-in's Graph /me returns them.
func standInUsers(t *testing.T, dir string) []standInUser {
	t.Helper()
	var reg struct {
		Users []standInUser `json:"users"`
	}
	readJSON(t, filepath.Join(dir, "devidp.json"), &reg)
	// Users of another organization (tenantId) cannot sign in to a
	// single-tenant app: the suite signs in as the tenant's own.
	var users []standInUser
	for _, u := range reg.Users {
		if u.TenantID == "" {
			users = append(users, u)
		}
	}
	if len(users) < 2 || users[0].ID == "" || users[0].DisplayName == "" {
		t.Fatalf("%s/devidp.json lists fewer than two usable test users of the tenant", dir)
	}
	return users
}

// devEnv is the test's environment without the variables that would move
// the app off its defaults.
func devEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PORT" || k == "APP_ENV" || strings.Contains(k, "__") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// stopGroup ends the process group pgid: SIGTERM, then SIGKILL to
// whatever is left after a few seconds. done closes when its leader exits.
func stopGroup(t *testing.T, pgid int, done <-chan struct{}) {
	alive := func() bool { return groupAlive(pgid) }
	waitGone := func(d time.Duration) bool {
		deadline := time.Now().Add(d)
		for time.Now().Before(deadline) {
			select {
			case <-done:
				if !alive() {
					return true
				}
			default:
			}
			time.Sleep(50 * time.Millisecond)
		}
		return !alive()
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	if waitGone(5 * time.Second) {
		return
	}
	t.Logf("the dev command's processes did not stop on SIGTERM within 5s; sending SIGKILL")
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	if !waitGone(5 * time.Second) {
		t.Errorf("processes of group %d are still alive after SIGKILL", pgid)
	}
	<-done
}

// groupAlive reports whether a process of group pgid still runs. Zombies
// do not count: where nothing reaps orphans (PID 1 in some containers) they
// stay, but they hold no port and use no CPU.
func groupAlive(pgid int) bool {
	if syscall.Kill(-pgid, 0) != nil {
		return false
	}
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil || len(stats) == 0 {
		return true // no /proc: trust kill
	}
	for _, p := range stats {
		data, err := os.ReadFile(p)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parens.
		i := bytes.LastIndexByte(data, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(data[i+1:]))
		if len(f) >= 3 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			return true
		}
	}
	return false
}

// trustCA makes a home directory whose NSS database trusts the project's
// CA, by running the command the stand-in printed, as a user would
// (README.md, "Try it without a tenant"). Chromium on Linux reads
// $HOME/.pki/nssdb. It returns "" when certutil is not installed.
func trustCA(t *testing.T, p *project) string {
	t.Helper()
	if _, err := exec.LookPath("certutil"); err != nil {
		return ""
	}
	home := t.TempDir()
	cmd := exec.Command("sh", "-c", p.trustCommand)
	cmd.Dir = p.dir
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "HOME=") }), "HOME="+home)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the stand-in's trust command %q: %v\n%s", p.trustCommand, err, out)
	}
	return home
}
