package generator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/idweb-init/idweb-init/templates"
)

// Errors about the output directory, wrapped with its name.
var (
	ErrNotEmpty = errors.New("is not empty")
	ErrNotDir   = errors.New("is not a directory")
)

// checkOutput reports whether dir exists and holds anything; a non-empty
// dir is also an error wrapping ErrNotEmpty. shown is the name the user
// gave, for messages.
func checkOutput(dir, shown string) (nonEmpty bool, err error) {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !fi.IsDir() {
		return false, fmt.Errorf("%q %w", shown, ErrNotDir)
	}
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if len(names) == 0 {
		if errors.Is(err, io.EOF) || err == nil {
			return false, nil
		}
		return false, err
	}
	return true, fmt.Errorf("%q %w", shown, ErrNotEmpty)
}

// checkReplaceable makes sure every planned file can be moved into the
// existing dir: no planned file is a directory there, and none of its
// parents is a file. So the move into place cannot fail half way for a
// reason known in advance.
func checkReplaceable(dir, shown string, plan Plan) error {
	for _, f := range plan.Files {
		parts := strings.Split(f.Path, "/")
		for i := range parts {
			rel := path.Join(parts[:i+1]...)
			fi, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(rel)))
			if errors.Is(err, fs.ErrNotExist) {
				break
			}
			if err != nil {
				return err
			}
			last := i == len(parts)-1
			if last && fi.IsDir() {
				return fmt.Errorf("%q: cannot replace directory %s with a file", shown, rel)
			}
			if !last && !fi.IsDir() {
				return fmt.Errorf("%q: cannot write %s: %s is not a directory", shown, f.Path, rel)
			}
		}
	}
	return nil
}

// writeHook, when set by a test, runs after each file is written to the
// temporary directory; an error from it fails the write.
var writeHook func(path string) error

// Write writes files into dir so that a failure or a cancelled ctx leaves
// no trace. The files are written into a new temporary directory beside
// dir (same parent, so it can be renamed), which then becomes dir if dir
// does not exist or is empty; if dir holds files, the new files are moved
// into it one by one, replacing files of the same path and leaving every
// other file alone. Write does not refuse a non-empty dir: Generate does,
// unless Options.Force.
func Write(ctx context.Context, dir string, files []Output) (err error) {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("creating the output directory's parent: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".idweb-init-*")
	if err != nil {
		return fmt.Errorf("creating a temporary directory: %w", err)
	}
	defer func() {
		// After a rename of the whole directory tmp no longer exists; after
		// moving file by file it holds directories only.
		if rerr := os.RemoveAll(tmp); rerr != nil && err == nil {
			err = fmt.Errorf("removing the temporary directory: %w", rerr)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp makes it 0700
		return err
	}

	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := filepath.Join(tmp, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(name, f.Content, 0o644); err != nil {
			return err
		}
		if writeHook != nil {
			if err := writeHook(f.Path); err != nil {
				return err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	// From here on ctx is not looked at: moving into place is quick, and
	// stopping half way would leave a half-replaced project.
	nonEmpty, err := checkOutput(dir, dir)
	if err != nil && !errors.Is(err, ErrNotEmpty) {
		return err
	}
	// A symbolic link to a directory is kept: the files go where it points.
	if fi, err := os.Lstat(dir); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		nonEmpty = true
	}
	if !nonEmpty {
		if err := os.Rename(tmp, dir); err == nil {
			return nil
		}
		// An empty dir that cannot be renamed over (Windows): remove it.
		if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return os.Rename(tmp, dir)
	}
	for _, f := range files { // into an existing directory
		target := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(tmp, filepath.FromSlash(f.Path)), target); err != nil {
			return err
		}
	}
	return nil
}

// Export writes the embedded app tree into dir as a Go module of its own,
// to start a fork for Options.TemplatesDir: the tree, its go.mod (module
// templates.AppModule), go.sum and module table. The fork builds and tests
// as it is (go test ./...), except for the root's templates. It refuses a
// non-empty dir.
func Export(ctx context.Context, dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if _, err := checkOutput(abs, dir); err != nil {
		return err
	}
	var files []Output
	err = fs.WalkDir(templates.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(templates.FS, p)
		if err != nil {
			return err
		}
		files = append(files, Output{Path: p, Content: b})
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the embedded templates: %w", err)
	}
	gomod, err := modfile.Parse("go.mod", templates.GoMod, nil)
	if err != nil {
		return fmt.Errorf("embedded go.mod: %w", err)
	}
	if err := gomod.AddModuleStmt(templates.AppModule); err != nil {
		return err
	}
	modText, err := gomod.Format()
	if err != nil {
		return err
	}
	files = append(files,
		Output{Path: "go.mod", Content: modText},
		Output{Path: "go.sum", Content: templates.GoSum},
		Output{Path: "modules.json", Content: templates.Modules},
	)
	return Write(ctx, abs, files)
}

// CheckOutput reports whether dir can be the output directory: it does
// not exist, or is an empty directory, or force is set and it is a
// directory. It is the check Generate makes, for use at a prompt.
func CheckOutput(dir string, force bool) error {
	if dir == "" {
		return errors.New("must not be empty")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	_, err = checkOutput(abs, dir)
	if errors.Is(err, ErrNotEmpty) {
		if force {
			return nil
		}
		return fmt.Errorf("%w (choose another directory, or run again with --force)", err)
	}
	return err
}
