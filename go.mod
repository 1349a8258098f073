module github.com/idweb-init/idweb-init

go 1.25.0
