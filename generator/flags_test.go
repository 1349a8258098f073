package generator

import "flag"

// updateFlag rewrites generated files that tests keep current
// (templates/modules.json); cmd/idweb-init uses the same flag for its
// golden files, so "go test ./... -update" works.
var updateFlag = flag.Bool("update", false, "rewrite the files tests keep current")
