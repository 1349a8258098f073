// Command idweb-init generates a ready-to-run Go web app that signs users
// in with Microsoft Entra ID. Its flags mirror "dotnet new webapp --auth
// SingleOrg"; in a terminal it asks for what the flags did not give.
//
//	idweb-init --name demo --tenant-id <GUID> --client-id <GUID>
//
// Exit codes: 0 success, 2 usage or validation error, 1 any other failure.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

func main() {
	// Ctrl-C cancels ctx: the generator stops and removes what it wrote.
	// Once it has, the default handling is back, so a second Ctrl-C kills.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	isTerminal := term.IsTerminal(int(os.Stdin.Fd())) && term.IsTerminal(int(os.Stdout.Fd()))
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, isTerminal)
	stop()
	os.Exit(code)
}
