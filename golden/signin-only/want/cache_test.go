package main

import (
	"testing"
)

// testCache returns the settings that give a test its own token cache:
// the in-memory one needs none.
func testCache(testing.TB) []string { return nil }
