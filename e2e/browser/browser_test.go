// Package browser_test is the browser end-to-end suite: it generates a
// project with the idweb-init CLI, runs the project's dev command (`make
// dev`: the app on http://localhost:5000 and the local Entra ID stand-in on
// https://127.0.0.1:5443), and signs in and out through the stand-in's
// pages in headless Chromium, driven over the DevTools protocol.
//
// The app and the stand-in are on two different origins (localhost and
// 127.0.0.1), so the stand-in's response_mode=form_post page posts the
// authorization code back cross-site, as Entra ID does: the app's sign-in
// cookie must survive that POST (SameSite=None; Secure).
//
// Artifacts go to e2e/browser/artifacts/ (gitignored): signed-in.png, the
// dev command's output (dev.log), Chromium's output, and on failure a
// report, the last page's HTML and a screenshot.
//
// Needs make and Chromium (/usr/bin/chromium or $CHROMIUM_PATH), which
// scripts/test installs.
package browser_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

const (
	appURL = "http://localhost:5000"
	idpURL = "https://127.0.0.1:5443"

	// readyTimeout covers `make dev`'s first build of the generated
	// project, which compiles its dependencies when the build cache is
	// cold.
	readyTimeout = 5 * time.Minute
	// stepTimeout bounds each browser step.
	stepTimeout = 30 * time.Second
	// pollInterval is how often a step looks at the page again.
	pollInterval = 100 * time.Millisecond
)

// The project the suite generates: the README's command (its -o is added
// by generateProject).
var generatorArgs = []string{
	"--yes", "--name", "demo",
	"--tenant-id", "11111111-2222-3333-4444-555555555555",
	"--client-id", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
	"--calls-graph",
}

func TestSignInAndOutThroughStandIn(t *testing.T) {
	chromium := chromiumPath(t)
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make is not installed, and the generated project's dev command is `make dev`; scripts/test installs it (apt-get install make): %v", err)
	}
	artifacts := artifactsDir(t)

	start := time.Now()
	dir := generateProject(t)
	t.Logf("generated the project in %s (%v)", dir, since(start))
	users := standInUsers(t, dir)

	dev := startDev(t, dir, artifacts)
	t.Logf("make dev: the app and the stand-in answer (%v); output in %s", since(start), dev.logPath)

	t.Run("test user button", func(t *testing.T) {
		u := users[0]
		b := newBrowser(t, chromium, artifacts, dev)
		// The home page's button signs in and returns to the profile.
		b.signIn("#signin-main", func(ctx context.Context) error {
			return chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[name="user"][value=`+cssString(u.ID)+`]`)))
		})
		b.acceptConsent()
		got := b.waitProfile(u.DisplayName)
		for _, f := range [][2]string{
			{"displayName", u.DisplayName}, {"userPrincipalName", u.UserPrincipalName}, {"id", u.ID},
			{"mail", u.Mail}, {"jobTitle", u.JobTitle}, {"officeLocation", u.OfficeLocation},
		} {
			if got[f[0]] != f[1] {
				b.fail("profile shows the stand-in's Graph data", fmt.Errorf("#%s = %q, want %q (devidp.json)", f[0], got[f[0]], f[1]))
			}
		}
		b.checkCookiesAfterSignIn()
		b.screenshot("signed-in.png")
		b.signOut()
	})

	t.Run("typed name", func(t *testing.T) {
		const name = "Ada Lovelace"
		b := newBrowser(t, chromium, artifacts, dev)
		// The header's link signs in and returns to the home page.
		b.signIn("#signin", func(ctx context.Context) error {
			return chromedp.Do(ctx,
				chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), name),
				chromedp.Click(chromedp.CSS(`form:has(input[name="name"]) button[type="submit"]`)),
			)
		})
		b.acceptConsent()
		b.waitSignedInHome(name)
		b.step("open the profile from the header", func(ctx context.Context) error {
			return chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`header a[href="/profile"]`)))
		})
		got := b.waitProfile(name)
		if !strings.Contains(got["userPrincipalName"], "@") {
			b.fail("profile shows the stand-in's Graph data", fmt.Errorf("#userPrincipalName = %q, want a user principal name", got["userPrincipalName"]))
		}
		b.checkCookiesAfterSignIn()
		b.screenshot("signed-in-typed-name.png")
		b.signOut()
	})
}

// generateProject renders the project with the idweb-init CLI, run from
// the repository's root, and returns its directory.
func generateProject(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	dir := filepath.Join(t.TempDir(), "demo")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append([]string{"run", "./cmd/idweb-init"}, generatorArgs...)
	args = append(args, "-o", dir)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("generating the project: go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return dir
}

// repoRoot is the directory of this module's go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatalf("not inside the idweb-init module (go env GOMOD = %q)", gomod)
	}
	return filepath.Dir(gomod)
}

// chromiumPath is Debian's chromium, or $CHROMIUM_PATH.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("CHROMIUM_PATH")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	fi, err := os.Stat(p)
	if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		t.Fatalf("Chromium not found at %s (set CHROMIUM_PATH to use another): the browser suite needs it; scripts/test installs Debian's chromium package (apt-get install chromium)", p)
	}
	return p
}

// artifactsDir is e2e/browser/artifacts, emptied first so that nothing in
// it is left over from an earlier run.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("artifacts")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatalf("emptying the artifacts directory: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("creating the artifacts directory: %v", err)
	}
	return dir
}

// standInUser is a test user of the stand-in, as devidp.json lists it.
type standInUser struct {
	ID                string `json:"id"`
	DisplayName       string `json:"displayName"`
	UserPrincipalName string `json:"userPrincipalName"`
	Mail              string `json:"mail"`
	JobTitle          string `json:"jobTitle"`
	OfficeLocation    string `json:"officeLocation"`
}

// standInUsers reads the test users from the generated project's
// devidp.json: the login page offers a button for each, and the stand-in's
// Graph /me returns them.
func standInUsers(t *testing.T, dir string) []standInUser {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "devidp.json"))
	if err != nil {
		t.Fatalf("reading the stand-in's registration: %v", err)
	}
	var reg struct {
		Users []standInUser `json:"users"`
	}
	if err := json.Unmarshal(data, &reg); err != nil {
		t.Fatalf("devidp.json: %v", err)
	}
	if len(reg.Users) == 0 || reg.Users[0].ID == "" || reg.Users[0].DisplayName == "" {
		t.Fatalf("devidp.json lists no usable test user:\n%s", data)
	}
	return reg.Users
}

// devServer is a running `make dev`.
type devServer struct {
	logPath string
	done    chan struct{} // closed when make exits
	waitErr error
}

// startDev runs `make dev` in dir in its own process group, waits until
// the app and the stand-in answer, and at the end of the test stops the
// whole group, so that no process outlives the test.
func startDev(t *testing.T, dir, artifacts string) *devServer {
	t.Helper()
	for _, addr := range []string{"127.0.0.1:5000", "[::1]:5000", "127.0.0.1:5443"} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Fatalf("something already listens on %s: stop it (another `make dev`?) so that the suite can run the generated project's", addr)
		}
	}

	d := &devServer{logPath: filepath.Join(artifacts, "dev.log"), done: make(chan struct{})}
	logFile, err := os.Create(d.logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", "dev")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = devEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("starting make dev: %v", err)
	}
	pgid := cmd.Process.Pid
	go func() {
		d.waitErr = cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		stopGroup(t, pgid, d.done)
		logFile.Close()
	})

	deadline := time.Now().Add(readyTimeout)
	probe := &http.Client{
		Timeout: 2 * time.Second,
		// The stand-in's certificate is self-signed. Only this readiness
		// probe skips verification; the app trusts the certificate
		// through its Development settings.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	defer probe.CloseIdleConnections()
	for _, u := range []string{idpURL + "/healthz", appURL + "/healthz"} {
		for {
			resp, err := probe.Get(u)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
				err = fmt.Errorf("status %s", resp.Status)
			}
			select {
			case <-d.done:
				t.Fatalf("make dev exited (%v) before %s answered; its output:\n%s", d.waitErr, u, tail(d.logPath, 60))
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not answer within %v of `make dev` (last: %v); its output:\n%s", u, readyTimeout, err, tail(d.logPath, 60))
			}
			time.Sleep(pollInterval * 2)
		}
	}
	return d
}

// devEnv is the test's environment without the variables that would move
// the app off the README's defaults.
func devEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "PORT", "APP_ENV":
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
	t.Logf("make dev's processes did not stop on SIGTERM within 5s; sending SIGKILL")
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	if !waitGone(5 * time.Second) {
		t.Errorf("processes of make dev's group %d are still alive after SIGKILL", pgid)
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

// browser is one headless Chromium with a fresh profile, and what it saw.
type browser struct {
	t         *testing.T
	ctx       context.Context // the tab's context; no deadline
	artifacts string
	dev       *devServer

	mu       sync.Mutex
	console  []string
	requests map[network.RequestID]*request
	docs     []string // document requests and their answers, in order
	failed   string   // the last document answer that was an error, if any
}

// request is one network request of the page, across its redirects: the
// hops (method and URL) and the extra info of each hop, in order.
type request struct {
	hops  []string
	extra []*network.EventRequestWillBeSentExtraInfo
}

func newBrowser(t *testing.T, chromium, artifacts string, dev *devServer) *browser {
	t.Helper()
	name := regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-")
	out, err := os.Create(filepath.Join(artifacts, "chromium-"+name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		// chromedp gives each browser a fresh temporary --user-data-dir
		// and removes it when the browser ends.
		chromedp.Headless,
		chromedp.NoSandbox, // the suite runs as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		// Without these Chromium keeps opening connections to Google's
		// services, which are refused on a closed network.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// The stand-in's certificate is self-signed. Only the browser
		// needs this; the app trusts the certificate itself.
		chromedp.IgnoreCertErrors,
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(out),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	b := &browser{t: t, ctx: ctx, artifacts: artifacts, dev: dev, requests: map[network.RequestID]*request{}}

	var wg sync.WaitGroup
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = chromedp.Cancel(cctx)
		cancelTab()
		cancelAlloc() // waits for the browser process to exit
		wg.Wait()
	})

	// Start the browser on a context without a deadline (a deadline on the
	// first run would end the browser with it), but do not wait forever.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting Chromium (%s): %v\nits output:\n%s", chromium, err, tail(out.Name(), 40))
		}
	case <-time.After(stepTimeout):
		t.Fatalf("Chromium (%s) did not start within %v; its output:\n%s", chromium, stepTimeout, tail(out.Name(), 40))
	}

	// The page's console: console API calls, uncaught exceptions and the
	// browser's log (runtime.consoleAPICalled, runtime.exceptionThrown,
	// log.entryAdded).
	messages := chromedp.Console(ctx)
	wg.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			line := m.String()
			if m.URL != "" {
				line += fmt.Sprintf(" (%s:%d)", m.URL, m.Line+1)
			}
			b.mu.Lock()
			b.console = append(b.console, line)
			b.mu.Unlock()
		}
	})
	if err := chromedp.Listen(ctx, b.onEvent); err != nil {
		t.Fatalf("listening to the page's network events: %v", err)
	}
	return b
}

// onEvent records network events. It runs in the tab's read loop: it only
// appends under the lock.
func (b *browser) onEvent(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	req := func(id network.RequestID) *request {
		r := b.requests[id]
		if r == nil {
			r = &request{}
			b.requests[id] = r
		}
		return r
	}
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		r := req(ev.RequestID)
		if ev.RedirectResponse != nil && ev.Type == network.ResourceTypeDocument {
			b.docs = append(b.docs, fmt.Sprintf("  <- %d %s", ev.RedirectResponse.Status, location(ev.RedirectResponse.Headers)))
		}
		r.hops = append(r.hops, ev.Request.Method+" "+ev.Request.URL)
		if ev.Type == network.ResourceTypeDocument {
			b.docs = append(b.docs, ev.Request.Method+" "+ev.Request.URL)
		}
	case *network.EventRequestWillBeSentExtraInfo:
		r := req(ev.RequestID)
		r.extra = append(r.extra, ev)
	case *network.EventResponseReceived:
		if ev.Type == network.ResourceTypeDocument {
			b.docs = append(b.docs, fmt.Sprintf("  <- %d %s", ev.Response.Status, ev.Response.MimeType))
			if ev.Response.Status >= 400 {
				b.failed = fmt.Sprintf("%s answered %d %s", ev.Response.URL, ev.Response.Status, ev.Response.StatusText)
			}
		}
	case *network.EventLoadingFailed:
		if ev.Type == network.ResourceTypeDocument {
			b.docs = append(b.docs, "  <- failed: "+ev.ErrorText+" "+string(ev.BlockedReason))
			b.failed = "a page failed to load: " + ev.ErrorText + " " + string(ev.BlockedReason)
		}
	}
}

func location(h network.Headers) string {
	for k, v := range h {
		if strings.EqualFold(k, "Location") {
			return fmt.Sprint("Location: ", v)
		}
	}
	return ""
}

// step runs f with its own timeout, and fails the test with a report of
// the page when f fails.
func (b *browser) step(name string, f func(ctx context.Context) error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	start := time.Now()
	if err := f(ctx); err != nil {
		b.fail(name, err)
	}
	b.t.Logf("%s (%v)", name, since(start))
}

// fail ends the test with the step, the page's URL, the console, the
// document requests, the last page's HTML and the tail of make dev's
// output, and saves them (and a screenshot) in the artifacts.
func (b *browser) fail(step string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	// Let a page that is still loading (an error page, say) finish, for
	// at most a few seconds.
	for wait := time.Now().Add(3 * time.Second); time.Now().Before(wait); {
		if s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.readyState`)); err == nil && s == "complete" {
			break
		}
		time.Sleep(pollInterval)
	}
	loc, lerr := chromedp.Run(ctx, chromedp.Location())
	if lerr != nil {
		loc = "(unknown: " + lerr.Error() + ")"
	}
	html, herr := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement ? document.documentElement.outerHTML : ""`))
	if herr != nil {
		html = "(unavailable: " + herr.Error() + ")"
	}
	b.mu.Lock()
	console := strings.Join(b.console, "\n")
	docs := strings.Join(b.docs, "\n")
	b.mu.Unlock()
	if console == "" {
		console = "(none)"
	}

	prefix := filepath.Join(b.artifacts, "failure-"+regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(b.t.Name(), "-"))
	report := fmt.Sprintf("step %q did not arrive: %v\n\ncurrent URL: %s\n\nbrowser console:\n%s\n\ndocument requests:\n%s\n\nlast page's HTML:\n%s\n\nmake dev's output (last lines, all in %s):\n%s",
		step, err, loc, console, docs, html, b.dev.logPath, tail(b.dev.logPath, 30))
	_ = os.WriteFile(prefix+".txt", []byte(report), 0o644)
	_ = os.WriteFile(prefix+".html", []byte(html), 0o644)
	if shot, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); serr == nil {
		_ = os.WriteFile(prefix+".png", shot, 0o644)
	}
	b.t.Fatalf("%s\n\n(saved in %s.{txt,html,png})", report, prefix)
}

// pageState is what waitPage looks at.
type pageState struct {
	URL   string `json:"url"`
	Ready string `json:"ready"`
	Found bool   `json:"found"`
}

func (s pageState) String() string {
	return fmt.Sprintf("at %s (readyState %s, selector found: %v)", s.URL, s.Ready, s.Found)
}

// waitPage polls until the page's URL is accepted by wantURL, the document
// has loaded and selector matches an element in it. It gives up at once
// when a page answers with an error status: no page of the flow does.
func (b *browser) waitPage(ctx context.Context, selector string, wantURL func(*url.URL) bool) (*url.URL, error) {
	expr := fmt.Sprintf(`({url: location.href, ready: document.readyState, found: !!document.querySelector(%s)})`, jsString(selector))
	var last pageState
	var lastErr error
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		s, err := chromedp.Run(pctx, chromedp.Evaluate[pageState](expr))
		cancel()
		if err != nil {
			// The page is between two documents.
			lastErr = err
		} else {
			last, lastErr = s, nil
			u, perr := url.Parse(s.URL)
			if perr == nil && wantURL(u) && s.Ready == "complete" && s.Found {
				return u, nil
			}
		}
		b.mu.Lock()
		failed := b.failed
		b.mu.Unlock()
		if failed != "" {
			return nil, fmt.Errorf("%s (waiting for %s)", failed, selector)
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return nil, fmt.Errorf("%w; last look: %s; then: %v", ctx.Err(), last, lastErr)
			}
			return nil, fmt.Errorf("%w waiting for %s; last look: %s", ctx.Err(), selector, last)
		case <-time.After(pollInterval):
		}
	}
}

func onApp(path string) func(*url.URL) bool {
	return func(u *url.URL) bool {
		return u.Scheme == "http" && u.Host == "localhost:5000" && u.Path == path
	}
}

func onStandIn(u *url.URL) bool {
	return u.Scheme == "https" && u.Host == "127.0.0.1:5443"
}

// loginForm matches the stand-in's login page: a button per test user and
// a field to type a name.
const loginForm = `input[name="name"]`

// signIn opens the app, clicks the "Sign in" link link, checks that the
// stand-in's login page comes (an authorization request with
// response_mode=form_post) and answers it with choose.
func (b *browser) signIn(link string, choose func(ctx context.Context) error) {
	b.t.Helper()
	b.step("open the app's home page", func(ctx context.Context) error {
		if err := chromedp.Do(ctx, chromedp.Navigate(appURL+"/")); err != nil {
			return err
		}
		_, err := b.waitPage(ctx, link, onApp("/"))
		return err
	})
	b.step("click Sign in ("+link+") and arrive at the stand-in's login page", func(ctx context.Context) error {
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(link))); err != nil {
			return err
		}
		u, err := b.waitPage(ctx, loginForm, onStandIn)
		if err != nil {
			return err
		}
		q := u.Query()
		if got := q.Get("response_mode"); got != "form_post" {
			return fmt.Errorf("authorization request %s has response_mode=%q, want form_post", u, got)
		}
		if got := q.Get("redirect_uri"); got != appURL+"/signin-oidc" {
			return fmt.Errorf("authorization request %s has redirect_uri=%q, want %s/signin-oidc", u, got, appURL)
		}
		return nil
	})
	b.step("answer the login page", func(ctx context.Context) error {
		if err := choose(ctx); err != nil {
			return err
		}
		_, err := b.waitPage(ctx, `button[name="consent"][value="accept"]`, onStandIn)
		return err
	})
}

// acceptConsent accepts the stand-in's consent page.
func (b *browser) acceptConsent() {
	b.t.Helper()
	b.step("accept the consent page", func(ctx context.Context) error {
		return chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[name="consent"][value="accept"]`)))
	})
}

// waitSignedInHome waits until the form_post page has posted the code
// back and the app shows its home page to the signed-in displayName.
func (b *browser) waitSignedInHome(displayName string) {
	b.t.Helper()
	b.step("form_post back to the app's home page, signed in", func(ctx context.Context) error {
		if _, err := b.waitPage(ctx, "#signout", onApp("/")); err != nil {
			return err
		}
		who, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("header .who")))
		if err != nil {
			return err
		}
		if strings.TrimSpace(who) != displayName {
			return fmt.Errorf("the header names %q, want %q", who, displayName)
		}
		return nil
	})
}

// waitProfile waits until the app shows the profile of displayName (after
// the form_post page posted the code back, or a click on the header's
// Profile link), and returns the profile's fields by id.
func (b *browser) waitProfile(displayName string) map[string]string {
	b.t.Helper()
	var fields map[string]string
	b.step("arrive at the profile page", func(ctx context.Context) error {
		if _, err := b.waitPage(ctx, "#displayName", onApp("/profile")); err != nil {
			return err
		}
		var err error
		fields, err = chromedp.Run(ctx, chromedp.Evaluate[map[string]string](
			`Object.fromEntries([...document.querySelectorAll("#profile td[id]")].map(e => [e.id, e.textContent.trim()]))`))
		if err != nil {
			return err
		}
		if fields["displayName"] != displayName {
			return fmt.Errorf("#displayName = %q, want %q", fields["displayName"], displayName)
		}
		if fields["userPrincipalName"] == "" {
			return errors.New("#userPrincipalName is empty")
		}
		return nil
	})
	return fields
}

// checkCookiesAfterSignIn checks what the cross-site form_post depends on:
// the POST to /signin-oidc was cross-site and carried the sign-in attempt's
// cookie; the app then set its HttpOnly session cookie and removed the
// sign-in cookie.
func (b *browser) checkCookiesAfterSignIn() {
	b.t.Helper()
	b.step("check the cookies of the cross-site callback", func(ctx context.Context) error {
		if err := b.checkCallbackRequest(); err != nil {
			return err
		}
		res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{appURL + "/"}})
		if err != nil {
			return err
		}
		var session *network.Cookie
		var names []string
		for _, c := range res.Cookies {
			names = append(names, c.Name)
			switch {
			case c.Name == "idweb.session":
				session = c
			case strings.HasPrefix(c.Name, "idweb.signin."):
				return fmt.Errorf("sign-in cookie %s is left over after the callback", c.Name)
			}
		}
		if session == nil {
			return fmt.Errorf("no idweb.session cookie for %s (cookies: %v)", appURL, names)
		}
		if !session.HTTPOnly {
			return errors.New("the idweb.session cookie is not HttpOnly")
		}
		return nil
	})
}

// checkCallbackRequest finds the browser's POST to /signin-oidc and checks
// that it was cross-site and sent an idweb.signin.* cookie.
func (b *browser) checkCallbackRequest() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	want := "POST " + appURL + "/signin-oidc"
	for _, r := range b.requests {
		for i, hop := range r.hops {
			if hop != want {
				continue
			}
			if i >= len(r.extra) {
				return fmt.Errorf("no raw headers were reported for %s", want)
			}
			ex := r.extra[i]
			if site := header(ex.Headers, "Sec-Fetch-Site"); site != "cross-site" {
				return fmt.Errorf("%s was sent with Sec-Fetch-Site %q, want cross-site", want, site)
			}
			var sent, blocked []string
			for _, ac := range ex.AssociatedCookies {
				if ac.Cookie == nil || !strings.HasPrefix(ac.Cookie.Name, "idweb.signin.") {
					continue
				}
				if len(ac.BlockedReasons) == 0 {
					sent = append(sent, ac.Cookie.Name)
				} else {
					blocked = append(blocked, fmt.Sprintf("%s %v", ac.Cookie.Name, ac.BlockedReasons))
				}
			}
			if len(sent) == 0 {
				return fmt.Errorf("%s carried no idweb.signin.* cookie (blocked: %v)", want, blocked)
			}
			return nil
		}
	}
	return fmt.Errorf("the browser sent no %s", want)
}

func header(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return fmt.Sprint(v)
		}
	}
	return ""
}

// screenshot saves a full-page PNG of the current page in the artifacts.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	b.step("save a screenshot as "+name, func(ctx context.Context) error {
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			return err
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(buf))
		if err != nil {
			return fmt.Errorf("the screenshot is not a PNG: %w", err)
		}
		if cfg.Width == 0 || cfg.Height == 0 {
			return fmt.Errorf("the screenshot is empty (%dx%d)", cfg.Width, cfg.Height)
		}
		p := filepath.Join(b.artifacts, name)
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			return err
		}
		b.t.Logf("screenshot of the signed-in page: %s (%dx%d)", p, cfg.Width, cfg.Height)
		return nil
	})
}

// signOut clicks "Sign out", expects the app's signed-out page after the
// round trip through the stand-in's logout endpoint, and checks that the
// session is gone: the profile sends the browser to sign in again.
func (b *browser) signOut() {
	b.t.Helper()
	b.step("sign out and arrive at the signed-out page", func(ctx context.Context) error {
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#signout"))); err != nil {
			return err
		}
		if _, err := b.waitPage(ctx, "#signed-out", onApp("/signout-callback-oidc")); err != nil {
			return err
		}
		text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#signed-out").textContent`))
		if err != nil {
			return err
		}
		if !strings.Contains(text, "You have signed out") {
			return fmt.Errorf("#signed-out says %q, want \"You have signed out\"", text)
		}
		res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{appURL + "/"}})
		if err != nil {
			return err
		}
		for _, c := range res.Cookies {
			if c.Name == "idweb.session" {
				return errors.New("the idweb.session cookie is still there after signing out")
			}
		}
		return nil
	})
	b.step("the profile asks to sign in again", func(ctx context.Context) error {
		if err := chromedp.Do(ctx, chromedp.Navigate(appURL+"/profile")); err != nil {
			return err
		}
		_, err := b.waitPage(ctx, loginForm, onStandIn)
		return err
	})
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// cssString is s as a CSS string.
func cssString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// tail is the last n lines of the file at path.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }
