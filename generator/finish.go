package generator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Tidy runs "go mod tidy" in dir. The templates carry a complete go.sum,
// so a generated project does not need it; it is there to refresh the
// requirements of a forked tree.
func Tidy(ctx context.Context, dir string) error {
	return runIn(ctx, dir, nil, "go", "mod", "tidy")
}

// GitCommitMessage is the message of the commit made by GitInit.
const GitCommitMessage = "Initial commit from idweb-init"

// GitInit makes dir a git repository and commits everything in it. The
// caller decides what a failure means (idweb-init only warns: a missing
// git or an unset identity must not fail the run).
func GitInit(ctx context.Context, dir string) error {
	if _, err := exec.LookPath("git"); err != nil {
		return errors.New("git not found in PATH")
	}
	env := []string{"GIT_TERMINAL_PROMPT=0"}
	for _, args := range [][]string{
		{"init", "--quiet"},
		{"add", "--all"},
		{"commit", "--quiet", "--no-verify", "--no-gpg-sign", "--message", GitCommitMessage},
	} {
		if err := runIn(ctx, dir, env, "git", args...); err != nil {
			return err
		}
	}
	return nil
}

// runIn runs a command in dir with no input and returns an error that
// holds the last line of its output.
func runIn(ctx context.Context, dir string, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = strings.TrimSpace(msg[i+1:])
		}
		if msg != "" {
			return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
		}
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}
