//go:build linux || darwin

package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	expect "github.com/Netflix/go-expect"
	"github.com/creack/pty"
	"github.com/hinshun/vt10x"

	"github.com/AlecAivazis/survey/v2/terminal"
)

// newConsole returns a console whose Tty is the terminal to run the
// command on. survey asks the terminal for the cursor position: vt10x
// emulates the terminal and answers, writing into a second pty whose other
// end feeds the console's input, as in survey's own tests.
func newConsole(t *testing.T) (*expect.Console, vt10x.Terminal) {
	t.Helper()
	ptm, pts, err := pty.Open()
	if err != nil {
		t.Fatalf("opening a pty: %v", err)
	}
	term := vt10x.New(vt10x.WithWriter(pts))
	c, err := expect.NewConsole(
		expect.WithStdin(ptm),
		expect.WithStdout(term),
		expect.WithCloser(ptm, pts),
		expect.WithDefaultTimeout(20*time.Second),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, term
}

// TestInteractive drives the real survey prompts through a pseudo
// terminal made by the test (no real terminal needed): it answers every
// question, checks that a bad answer is refused at the prompt and that '?'
// shows help, then checks the project is written and that the printed
// equivalent command generates the same tree without asking anything.
func TestInteractive(t *testing.T) {
	c, term := newConsole(t)

	parent := t.TempDir()
	out := filepath.Join(parent, "my-app")
	done := make(chan int, 1)
	go func() {
		// --instance is given: it must not be asked, and must be in the
		// equivalent command.
		done <- run(t.Context(), []string{"--instance", "https://login.microsoftonline.us"}, c.Tty(), c.Tty(), c.Tty(), true)
	}()

	expectString := func(s string) {
		t.Helper()
		if got, err := c.ExpectString(s); err != nil {
			t.Fatalf("waiting for %q: %v\nscreen:\n%s\nread:\n%q", s, err, term.String(), got)
		}
	}
	// send types s and Enter. Keys are sent right after the prompt's text
	// is seen: the console reads (and passes to the emulator) only up to a
	// match, so the keys are queued before the emulator's answer to
	// survey's cursor position request, which survey would otherwise read
	// in one go with them and drop them.
	send := func(s string) {
		t.Helper()
		if _, err := c.SendLine(s); err != nil {
			t.Fatal(err)
		}
	}

	expectString("Project name:")
	send("my app") // refused at the prompt by the generator's validator
	expectString(`is not a valid project name`)
	send("my-app")
	expectString("Go module path:")
	expectString("(my-app)") // the default is the name
	send("example.com/my-app")
	expectString("Who signs in:")
	expectString("Accounts in one organization")
	send("") // the default: single-org
	expectString("Tenant ID:")
	send("?")
	expectString("verified domain")
	expectString("Tenant ID:") // asked again after the help
	send("contoso.onmicrosoft.com")
	expectString("Application (client) ID:")
	send("abc")
	expectString(`"abc" is not a GUID`)
	send(clientID)
	expectString("Credential:")
	expectString("Client secret")
	send("") // the default: client-secret
	expectString("Add another credential")
	send("n")
	expectString("Token cache:")
	expectString("In memory")
	send("") // the default: memory
	expectString("API to call:")
	expectString("Microsoft Graph") // the choice's description
	send(string(terminal.KeyArrowDown))
	expectString("Name of the API's settings section:")
	expectString("(DownstreamApi)")
	send("")
	expectString("The API's base URL:")
	send("http://orders.contoso.com")
	expectString("must use https")
	send("https://orders.contoso.com/api")
	expectString("The API's scopes (space-separated):")
	send("?")
	expectString("access_as_user")
	expectString("The API's scopes (space-separated):") // asked again after the help
	// No capital R in keys typed ahead of survey's cursor position
	// request: survey reads the reply up to the first 'R' and would hang.
	send("api://" + apiID + "/access_as_user")
	expectString("Add another API?")
	send("n")
	expectString("Output directory:")
	send(out)
	expectString("Equivalent command:")
	line, err := c.Expect(expect.RegexpPattern(`idweb-init --yes [^\r\n]*\r?\n`))
	if err != nil {
		t.Fatalf("equivalent command: %v\n%s", err, term.String())
	}
	expectString("Created ")

	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, term.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the interactive run did not finish")
	}

	cmdline := regexp.MustCompile(`idweb-init --yes [^\r\n]*`).FindString(line)
	wantCmd := "idweb-init --yes --name my-app --module example.com/my-app --tenant-id contoso.onmicrosoft.com " +
		"--client-id " + clientID + " --instance https://login.microsoftonline.us " +
		"--api custom --called-api-url https://orders.contoso.com/api --called-api-scopes api://" + apiID + "/access_as_user -o " + out
	if cmdline != wantCmd {
		t.Errorf("equivalent command:\n%s\nwant:\n%s", cmdline, wantCmd)
	}
	got := readTree(t, out)
	if !strings.Contains(string(got["go.mod"]), "module example.com/my-app\n") {
		t.Errorf("go.mod = %q", got["go.mod"])
	}

	// The equivalent command, run without a terminal, makes the same tree.
	again := filepath.Join(parent, "again")
	args := append(strings.Fields(cmdline)[1:], "-o", again)
	if res := runCLI(t, args...); res.code != 0 {
		t.Fatalf("equivalent command: exit %d: %s", res.code, res.stderr)
	}
	if msg := diffTrees(got, readTree(t, again)); msg != "" {
		t.Errorf("the equivalent command made a different tree:\n%s", msg)
	}
}

// TestInteractiveCtrlC interrupts the questions: the run ends with exit 1
// and writes nothing.
func TestInteractiveCtrlC(t *testing.T) {
	c, _ := newConsole(t)
	parent := t.TempDir()
	done := make(chan int, 1)
	go func() {
		// Every question but the output directory is answered by flags.
		args := append(validArgs[:len(validArgs):len(validArgs)], "--credential", "client-secret", "--cache", "memory", "--calls-graph")
		done <- run(t.Context(), args, c.Tty(), c.Tty(), c.Tty(), true)
	}()
	if _, err := c.ExpectString("Output directory:"); err != nil {
		t.Fatal(err)
	}
	// Ctrl-C is a key only once survey has put the terminal in raw mode
	// (before, the line discipline would take it); survey hides the cursor
	// right after. It must also reach survey before the emulator's answer
	// to the cursor position request that follows (survey drops what comes
	// in the same read after that answer): the console reads, and passes to
	// the emulator, only up to the match, so sending now is in time.
	if _, err := c.ExpectString("\x1b[?25l"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(string(terminal.KeyInterrupt)); err != nil {
		t.Fatal(err)
	}
	// Keep reading: survey asks for the cursor position again on its way
	// out, and only a read passes the request to the emulated terminal.
	if _, err := c.ExpectString("interrupted; nothing was written"); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Ctrl-C did not end the run")
	}
	if names := dirNames(t, parent); len(names) != 0 {
		t.Errorf("left %v", names)
	}
}
