//go:build !(linux || darwin)

package main

// takeTerminal does nothing here: Ctrl-C reaches every program of the
// console, and each stops on its own.
func takeTerminal() (restore func()) { return func() {} }
