// Package browser_test is the browser end-to-end suite: it generates
// projects with the generator (the default one: Graph, and one that calls a
// custom API), builds each and runs it as make dev does (bin/devidp --
// bin/app: the stand-in starts the app once it listens), and signs in and
// out through the stand-in's pages in headless Chromium, driven over the
// DevTools protocol.
//
// Each project runs on free loopback ports, not the 5000 and 5443 its files
// name, so that the suite runs beside a make dev: the app's port is PORT,
// the stand-in's is --addr with a copy of devidp.json whose redirect URIs
// name the app's port (--config), and the app's Development settings that
// point at the stand-in (AzureAd:Instance, each API's BaseUrl) are
// overridden with environment variables (AzureAd__Instance=https://127.0.0.1:<port>/,
// MicrosoftGraph__BaseUrl=..., DownstreamApi__BaseUrl=...), which the app
// reads after appsettings.Development.json. See startProject.
//
// The browser trusts the stand-in as the project's README tells a person
// to: the command the stand-in prints at start-up (certutil, adding its
// local CA to $HOME/.pki/nssdb) runs with HOME set to a directory of the
// test, and Chromium runs with that HOME and no certificate flag. Without
// certutil (libnss3-tools), Chromium instead ignores certificate errors
// for the stand-in's key only (--ignore-certificate-errors-spki-list).
// A browser that does not trust it sees the certificate warning, which
// "Advanced → Proceed" gets past, as the README says.
//
// The app and the stand-in are on two different origins (localhost and
// 127.0.0.1), so the stand-in's response_mode=form_post page posts the
// authorization code back cross-site, as Entra ID does: the app's sign-in
// cookie must survive that POST (SameSite=None; Secure).
//
// Artifacts go to e2e/browser/artifacts/ (gitignored): screenshots
// (certificate-warning.png, signed-in.png, signed-in-typed-name.png,
// custom-api.png, ...), the dev commands' output (dev-<project>.log),
// Chromium's output, and on failure a report, the last page's HTML and a
// screenshot.
//
// Needs Chromium (/usr/bin/chromium or $CHROMIUM_PATH), which scripts/test
// installs, and certutil for the trusted-CA path.
package browser_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/idweb-init/idweb-init/generator"
)

const (
	// readyTimeout covers the first build of a generated project, which
	// compiles its dependencies when the build cache is cold.
	readyTimeout = 5 * time.Minute
	// stepTimeout bounds each browser step.
	stepTimeout = 30 * time.Second
	// pollInterval is how often a step looks at the page again.
	pollInterval = 100 * time.Millisecond
)

// The default project: client secret, memory cache, Graph (REST).
func TestGraphProject(t *testing.T) {
	chromium := chromiumPath(t)
	artifacts := artifactsDir(t)
	p := startProject(t, "graph", generator.Options{}, artifacts)

	t.Run("certificate warning", func(t *testing.T) {
		// A browser that does not trust the stand-in's CA, as on the
		// first run.
		b := newBrowser(t, chromium, artifacts, p, untrusted)
		b.open()
		b.step("click Sign in and get the certificate warning", func(ctx context.Context) error {
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#signin-main"))); err != nil {
				return err
			}
			return b.waitWarning(ctx)
		})
		b.screenshot("certificate-warning.png")
		b.step("Advanced → Proceed to 127.0.0.1 (unsafe) arrives at the login page", func(ctx context.Context) error {
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#details-button"))); err != nil {
				return err
			}
			b.clearFailure()
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#proceed-link"))); err != nil {
				return err
			}
			_, err := b.waitPage(ctx, loginForm, b.onStandIn)
			return err
		})
		// Another user than the next subtest's, who is asked for consent
		// (the stand-in remembers a user's consent).
		u := p.users[len(p.users)-1]
		b.chooseUser(u)
		b.acceptConsent()
		b.waitProfile(u.DisplayName)
		b.screenshot("signed-in-after-proceed.png")
	})

	t.Run("test user button", func(t *testing.T) {
		u := p.users[0]
		b := newBrowser(t, chromium, artifacts, p, trusted)
		b.pageShots = true
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
		b.signOut("signed-out.png")
	})

	t.Run("typed name", func(t *testing.T) {
		const name = "Ada Lovelace"
		b := newBrowser(t, chromium, artifacts, p, trusted)
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
		b.crossSiteSignOut(name)
		b.signOut("")
	})
}

// A project that calls a custom API: after sign-in, the page that calls it
// shows the API's JSON answer (the stand-in serves the API).
func TestCustomAPIProject(t *testing.T) {
	chromium := chromiumPath(t)
	artifacts := artifactsDir(t)
	p := startProject(t, "custom", generator.Options{
		API:             "custom",
		CalledAPIURL:    "https://api.contoso.example",
		CalledAPIScopes: []string{"api://22222222-0000-4000-8000-000000000002/access_as_user"},
	}, artifacts)
	if p.firstPage != "/apis/DownstreamApi" {
		t.Fatalf("the project's first page is %s, want /apis/DownstreamApi", p.firstPage)
	}

	u := p.users[1]
	b := newBrowser(t, chromium, artifacts, p, trusted)
	b.signIn("#signin-main", func(ctx context.Context) error {
		return chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[name="user"][value=`+cssString(u.ID)+`]`)))
	})
	b.acceptConsent()
	var answer struct {
		API               string   `json:"api"`
		Method            string   `json:"method"`
		Path              string   `json:"path"`
		AppOnly           bool     `json:"appOnly"`
		Subject           string   `json:"subject"`
		ClientID          string   `json:"clientId"`
		Name              string   `json:"name"`
		PreferredUsername string   `json:"preferredUsername"`
		Scopes            []string `json:"scopes"`
	}
	b.step("arrive at the API's page and read its JSON answer", func(ctx context.Context) error {
		if _, err := b.waitPage(ctx, "#answer", b.onApp(p.firstPage)); err != nil {
			return err
		}
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#answer")))
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(text), &answer); err != nil {
			return fmt.Errorf("#answer is not JSON (%v): %s", err, text)
		}
		return nil
	})
	want := answer
	want.API, want.Method, want.Path, want.AppOnly = "DownstreamApi", "GET", "/", false
	want.Subject, want.Name, want.PreferredUsername = u.ID, u.DisplayName, u.UserPrincipalName
	want.ClientID, want.Scopes = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", []string{"access_as_user"}
	if fmt.Sprint(answer) != fmt.Sprint(want) {
		b.fail("the API's answer names the user, the app and the scope", fmt.Errorf("got  %+v\nwant %+v", answer, want))
	}
	b.checkCookiesAfterSignIn()
	b.screenshot("custom-api.png")
	b.signOut("")
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

var emptyArtifacts sync.Once

// artifactsDir is e2e/browser/artifacts, emptied once per run so that
// nothing in it is left over from an earlier one.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("artifacts")
	if err != nil {
		t.Fatal(err)
	}
	emptyArtifacts.Do(func() { err = os.RemoveAll(dir) })
	if err != nil {
		t.Fatalf("emptying the artifacts directory: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("creating the artifacts directory: %v", err)
	}
	return dir
}

// browser is one headless Chromium with a fresh profile, and what it saw.
type browser struct {
	t         *testing.T
	ctx       context.Context // the tab's context; no deadline
	artifacts string
	p         *project
	// pageShots makes signIn save screenshots of the stand-in's login
	// and consent pages (login.png, consent.png).
	pageShots bool
	// expectStatus is an error status a page is expected to answer with
	// (403 for a page the user may not see); others fail the step.
	expectStatus int64

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

// trust is whether a browser trusts the stand-in's certificate.
type trust bool

const (
	trusted   trust = true  // the stand-in's CA, as the README says
	untrusted trust = false // as on a first run: the certificate warning
)

func newBrowser(t *testing.T, chromium, artifacts string, p *project, tr trust) *browser {
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
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(out),
	)
	// Chromium on Linux trusts what $HOME/.pki/nssdb trusts; a HOME of
	// the test's keeps the machine's own trust out either way.
	home := t.TempDir()
	if tr == trusted {
		if h := trustCA(t, p); h != "" {
			home = h
		} else {
			t.Logf("certutil is not installed (apt-get install libnss3-tools): Chromium ignores certificate errors for the stand-in's key instead of trusting its CA")
			opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", p.spki()))
		}
	}
	opts = append(opts, chromedp.Env("HOME="+home))
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // after the browser's end: cleanups run last first
	ctx := startChromium(t, chromium, out, opts)
	b := &browser{t: t, ctx: ctx, artifacts: artifacts, p: p, requests: map[network.RequestID]*request{}}

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

// startChromium starts Chromium and returns the context of its tab, which
// ends with the test. Chromium (148, in a container) now and then crashes
// as it starts, before it listens for DevTools; a second try is made then.
func startChromium(t *testing.T, chromium string, out *os.File, opts []chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	for try := 1; ; try++ {
		allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancelTab := chromedp.NewContext(allocCtx)
		stop := func() {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_ = chromedp.Cancel(cctx)
			cancelTab()
			cancelAlloc() // waits for the browser process to exit
		}
		// Start the browser on a context without a deadline (a deadline
		// on the first run would end the browser with it), but do not
		// wait forever.
		started := make(chan error, 1)
		go func() { started <- chromedp.Do(ctx) }()
		var err error
		select {
		case err = <-started:
		case <-time.After(stepTimeout):
			err = fmt.Errorf("not started within %v", stepTimeout)
		}
		if err == nil {
			t.Cleanup(stop)
			return ctx
		}
		stop()
		if try == 2 {
			t.Fatalf("starting Chromium (%s), twice: %v\nits output:\n%s", chromium, err, tail(out.Name(), 60))
		}
		t.Logf("Chromium did not start (%v); trying again", err)
		fmt.Fprintf(out, "\n--- the test: Chromium did not start (%v); trying again\n", err)
	}
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
			if ev.Response.Status >= 400 && ev.Response.Status != b.expectStatus {
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
// document requests, the last page's HTML and the tail of the dev command's
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
	report := fmt.Sprintf("step %q did not arrive: %v\n\ncurrent URL: %s\n\nbrowser console:\n%s\n\ndocument requests:\n%s\n\nlast page's HTML:\n%s\n\nthe dev command's output (last lines, all in %s):\n%s",
		step, err, loc, console, docs, html, b.p.logPath, tail(b.p.logPath, 30))
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

func (b *browser) onApp(path string) func(*url.URL) bool {
	return func(u *url.URL) bool {
		return u.Scheme == "http" && u.Host == b.p.appHost && u.Path == path
	}
}

func (b *browser) onStandIn(u *url.URL) bool {
	return u.Scheme == "https" && u.Host == b.p.idpHost
}

// loginForm matches the stand-in's login page: a button per test user and
// a field to type a name.
const loginForm = `input[name="name"]`

// open opens the app's home page, signed out.
func (b *browser) open() {
	b.t.Helper()
	b.step("open the app's home page", func(ctx context.Context) error {
		if err := chromedp.Do(ctx, chromedp.Navigate(b.p.appURL+"/")); err != nil {
			return err
		}
		_, err := b.waitPage(ctx, "#signin", b.onApp("/"))
		return err
	})
}

// signIn opens the app, clicks the "Sign in" link link, checks that the
// stand-in's login page comes (an authorization request with
// response_mode=form_post) and answers it with choose.
func (b *browser) signIn(link string, choose func(ctx context.Context) error) {
	b.t.Helper()
	b.open()
	b.step("click Sign in ("+link+") and arrive at the stand-in's login page", func(ctx context.Context) error {
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(link))); err != nil {
			return err
		}
		u, err := b.waitPage(ctx, loginForm, b.onStandIn)
		if err != nil {
			return err
		}
		q := u.Query()
		if got := q.Get("response_mode"); got != "form_post" {
			return fmt.Errorf("authorization request %s has response_mode=%q, want form_post", u, got)
		}
		if got, want := q.Get("redirect_uri"), b.p.appURL+"/signin-oidc"; got != want {
			return fmt.Errorf("authorization request %s has redirect_uri=%q, want %s", u, got, want)
		}
		return nil
	})
	if b.pageShots {
		b.screenshot("login.png")
	}
	b.step("answer the login page", func(ctx context.Context) error {
		if err := choose(ctx); err != nil {
			return err
		}
		_, err := b.waitPage(ctx, `button[name="consent"][value="accept"]`, b.onStandIn)
		return err
	})
	if b.pageShots {
		b.screenshot("consent.png")
	}
}

// chooseUser presses the login page's button of u.
func (b *browser) chooseUser(u standInUser) {
	b.t.Helper()
	b.step("choose "+u.DisplayName+" on the login page", func(ctx context.Context) error {
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[name="user"][value=`+cssString(u.ID)+`]`))); err != nil {
			return err
		}
		_, err := b.waitPage(ctx, `button[name="consent"][value="accept"]`, b.onStandIn)
		return err
	})
}

// waitWarning waits for Chromium's certificate warning for the stand-in:
// "Your connection is not private", NET::ERR_CERT_AUTHORITY_INVALID, with
// its Advanced button.
func (b *browser) waitWarning(ctx context.Context) error {
	var last string
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		s, err := chromedp.Run(pctx, chromedp.Evaluate[string](`location.href + "\n" + (document.querySelector("#details-button") ? "details " : "") + (document.body ? document.body.innerText : "")`))
		cancel()
		if err == nil {
			last = s
			// The warning is an error page of its own URL that names the
			// host.
			href, text, _ := strings.Cut(s, "\n")
			host, _, _ := strings.Cut(b.p.idpHost, ":")
			if strings.HasPrefix(href, "chrome-error://") && strings.HasPrefix(text, "details ") && strings.Contains(text, " "+host+" ") &&
				strings.Contains(text, "Your connection is not private") && strings.Contains(text, "NET::ERR_CERT_AUTHORITY_INVALID") {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w waiting for the certificate warning; last look: %q", ctx.Err(), last)
		case <-time.After(pollInterval):
		}
	}
}

// clearFailure forgets a failed document load (the certificate error).
func (b *browser) clearFailure() {
	b.mu.Lock()
	b.failed = ""
	b.mu.Unlock()
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
		if _, err := b.waitPage(ctx, "#signout", b.onApp("/")); err != nil {
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

// crossSiteSignOut opens a page on another origin (127.0.0.1, while the
// app is localhost: another site) that posts a sign-out form to the app as
// soon as it loads, as an attacker's page would, and checks that the user
// is still signed in afterwards.
func (b *browser) crossSiteSignOut(displayName string) {
	b.t.Helper()
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>win a prize</title>
<form id="f" method="post" action="%s/signout"><input type="hidden" name="csrf" value="forged"></form>
<script>document.getElementById("f").submit()</script>`, b.p.appURL)
	}))
	b.t.Cleanup(evil.Close)
	b.step("a page on another site posts to the app's sign-out", func(ctx context.Context) error {
		if err := chromedp.Do(ctx, chromedp.Navigate(evil.URL)); err != nil {
			return err
		}
		_, err := b.waitPage(ctx, "body", b.onApp("/signout"))
		return err
	})
	// The app's 403 answer is the expected refusal, not a failure.
	b.clearFailure()
	b.screenshot("cross-site-signout-refused.png")
	b.step("back on the app, still signed in", func(ctx context.Context) error {
		return chromedp.Do(ctx, chromedp.Navigate(b.p.appURL+"/"))
	})
	b.waitSignedInHome(displayName)
}

// waitProfile waits until the app shows the profile of displayName (after
// the form_post page posted the code back, or a click on the header's
// Profile link), and returns the profile's fields by id.
func (b *browser) waitProfile(displayName string) map[string]string {
	b.t.Helper()
	var fields map[string]string
	b.step("arrive at the profile page", func(ctx context.Context) error {
		if _, err := b.waitPage(ctx, "#displayName", b.onApp("/profile")); err != nil {
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
		res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.p.appURL + "/"}})
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
			return fmt.Errorf("no idweb.session cookie for %s (cookies: %v)", b.p.appURL, names)
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
	want := "POST " + b.p.appURL + "/signin-oidc"
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
		b.t.Logf("screenshot: %s (%dx%d)", p, cfg.Width, cfg.Height)
		return nil
	})
}

// signOut clicks "Sign out", expects the app's signed-out page after the
// round trip through the stand-in's logout endpoint, and checks that the
// session is gone: the first page sends the browser to sign in again.
// With a name, the signed-out page's screenshot is saved as name.
func (b *browser) signOut(screenshot string) {
	b.t.Helper()
	b.step("sign out and arrive at the signed-out page", func(ctx context.Context) error {
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#signout"))); err != nil {
			return err
		}
		if _, err := b.waitPage(ctx, "#signed-out", b.onApp("/signout-callback-oidc")); err != nil {
			return err
		}
		text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#signed-out").textContent`))
		if err != nil {
			return err
		}
		if !strings.Contains(text, "You have signed out") {
			return fmt.Errorf("#signed-out says %q, want \"You have signed out\"", text)
		}
		res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.p.appURL + "/"}})
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
	if screenshot != "" {
		b.screenshot(screenshot)
	}
	b.step(b.p.firstPage+" asks to sign in again", func(ctx context.Context) error {
		if err := chromedp.Do(ctx, chromedp.Navigate(b.p.appURL+b.p.firstPage)); err != nil {
			return err
		}
		_, err := b.waitPage(ctx, loginForm, b.onStandIn)
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

// A project whose credential is a certificate file: in development the
// stand-in's client certificate (.devidp/client-cert.pem) signs the app's
// client assertions, and a user signs in and sees their profile.
func TestCertificateProject(t *testing.T) {
	chromium := chromiumPath(t)
	artifacts := artifactsDir(t)
	p := startProject(t, "certificate", generator.Options{Credentials: []string{"certificate"}}, artifacts)

	u := p.users[0]
	b := newBrowser(t, chromium, artifacts, p, trusted)
	b.signIn("#signin-main", func(ctx context.Context) error {
		return chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[name="user"][value=`+cssString(u.ID)+`]`)))
	})
	b.acceptConsent()
	b.waitProfile(u.DisplayName)
	b.screenshot("certificate-signed-in.png")
	// The stand-in's first user has the app role Admin (devidp.json).
	b.step("open Administration from the header: the Admin role's page", func(ctx context.Context) error {
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`header a[href="/admin"]`))); err != nil {
			return err
		}
		_, err := b.waitPage(ctx, "#roles", b.onApp("/admin"))
		return err
	})
	b.screenshot("admin.png")
	b.signOut("")

	// The second has no role: the same page is a 403 that says why.
	other := p.users[1]
	b = newBrowser(t, chromium, artifacts, p, trusted)
	b.signIn("#signin-main", func(ctx context.Context) error {
		return chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[name="user"][value=`+cssString(other.ID)+`]`)))
	})
	b.acceptConsent()
	b.waitProfile(other.DisplayName)
	b.mu.Lock()
	b.expectStatus = http.StatusForbidden
	b.mu.Unlock()
	b.step("open Administration without the role: a 403 page that says why", func(ctx context.Context) error {
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`header a[href="/admin"]`))); err != nil {
			return err
		}
		if _, err := b.waitPage(ctx, "p.error", b.onApp("/admin")); err != nil {
			return err
		}
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main h1")))
		if err == nil && text != "Access denied" {
			err = fmt.Errorf("the page's heading is %q, want Access denied", text)
		}
		return err
	})
	b.screenshot("admin-denied.png")

	logText, err := os.ReadFile(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logText), `entry="AzureAd:ClientCredentials:0 (Path)"`) {
		t.Errorf("the app did not log that it loaded the certificate entry; its output:\n%s", tail(p.logPath, 40))
	}
}

// A project whose token cache is Redis: a redis-server from the machine's
// packages on a free loopback port, the app signs a user in, and the user's
// tokens are in Redis, encrypted.
func TestRedisCacheProject(t *testing.T) {
	chromium := chromiumPath(t)
	artifacts := artifactsDir(t)
	server, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("no redis-server (scripts/test installs it)")
	}
	port := freePort(t)
	dir := t.TempDir()
	cmd := exec.Command(server, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	redisURL := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	p := startProject(t, "redis", generator.Options{Cache: "redis"}, artifacts, "TokenCache__RedisUrl="+redisURL)

	u := p.users[0]
	b := newBrowser(t, chromium, artifacts, p, trusted)
	b.signIn("#signin-main", func(ctx context.Context) error {
		return chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[name="user"][value=`+cssString(u.ID)+`]`)))
	})
	b.acceptConsent()
	b.waitProfile(u.DisplayName)
	b.screenshot("redis-signed-in.png")

	// The user's partition is in Redis, and holds no token in clear (MSAL's
	// JSON, and the JWTs in it, would show "refresh_token" and "eyJ").
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "*2\r\n$4\r\nKEYS\r\n$1\r\n*\r\n")
	conn.SetReadDeadline(time.Now().Add(time.Second))
	reply, _ := io.ReadAll(io.LimitReader(conn, 1<<16))
	var key string
	for _, line := range strings.Split(string(reply), "\r\n") {
		if strings.Contains(line, ":p:") && strings.Contains(line, u.ID) {
			key = line
		}
	}
	if key == "" {
		t.Fatalf("Redis holds no partition for %s: %q", u.ID, reply)
	}
	fmt.Fprintf(conn, "*3\r\n$5\r\nHMGET\r\n$%d\r\n%s\r\n$1\r\nd\r\n", len(key), key) // the hash field d holds the partition
	conn.SetReadDeadline(time.Now().Add(time.Second))
	value, _ := io.ReadAll(io.LimitReader(conn, 1<<20))
	if len(value) < 100 || bytes.Contains(value, []byte("eyJ")) || bytes.Contains(value, []byte("refresh_token")) {
		t.Errorf("the partition in Redis is not encrypted (%d bytes): %.200q", len(value), value)
	}
	b.signOut("")
}
