package devcmd_test

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idweb-init/idweb-init/generator"
)

// The token cache servers of make dev (scripts/devstore.sh, in Redis and
// PostgreSQL projects): make dev starts a development server when none
// answers at the configured URL, reuses it on the next run, leaves a
// server it did not start (or a managed one) alone, names a port held by
// something else instead of waiting on it, and never stops make dev.
// Each test points the URL at a free port, so a store the machine runs
// is never touched.

func TestDevStoreRedis(t *testing.T) {
	for _, tool := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (scripts/test installs it): %v", tool, err)
		}
	}
	dir := generateWithCache(t, "redis")
	port := freePort(t)
	env := append(cleanEnv(), "TokenCache__RedisUrl=redis://localhost:"+port+"/0")

	out := devstore(t, dir, env, "start")
	t.Cleanup(func() { devstore(t, dir, env, "stop") })
	wantLine(t, out, "devstore: started Redis in .devidp/redis on 127.0.0.1:"+port)
	if got := redisPing(t, port); got != "+PONG" {
		t.Fatalf("the Redis make dev started answers PING with %q", got)
	}
	if st, err := os.Stat(filepath.Join(dir, ".devidp")); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf(".devidp: %v, want a directory only its owner opens", err)
	}

	// The next make dev finds it and starts nothing.
	wantLine(t, devstore(t, dir, env, "start"), "devstore: Redis (.devidp/redis) answers on 127.0.0.1:"+port)

	wantLine(t, devstore(t, dir, env, "stop"), "devstore: stopped Redis (.devidp/redis); its data stays")
	waitFree(t, "127.0.0.1:"+port)
	wantLine(t, devstore(t, dir, env, "stop"), "devstore: no Redis of make dev's runs")
}

func TestDevStoreLeavesOtherServersAlone(t *testing.T) {
	dir := generateWithCache(t, "redis")

	t.Run("a managed Redis", func(t *testing.T) {
		env := append(cleanEnv(), "TokenCache__RedisUrl=rediss://:key@contoso.redis.cache.windows.net:6380/0")
		wantLine(t, devstore(t, dir, env, "start"),
			"devstore: TokenCache:RedisUrl names contoso.redis.cache.windows.net:6380: the app uses that Redis, none is started here")
		if _, err := os.Stat(filepath.Join(dir, ".devidp", "redis")); err == nil {
			t.Error("a local Redis was set up for a managed one")
		}
	})

	t.Run("a port held by something that never answers", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() { // accept, and say nothing
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
			}
		}()
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		env := append(cleanEnv(), "TokenCache__RedisUrl=redis://localhost:"+port+"/0")
		start := time.Now()
		out := devstore(t, dir, env, "start")
		wantLine(t, out, "devstore: localhost:"+port+" is taken by something that does not answer as Redis")
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("make dev waited %v on a port that never answers", d)
		}
		if _, err := os.Stat(filepath.Join(dir, ".devidp", "redis", "redis.pid")); err == nil {
			t.Error("a Redis was started on a taken port")
		}
	})
}

func TestDevStorePostgres(t *testing.T) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		t.Fatal("PostgreSQL is not installed (scripts/test installs it)")
	}
	dir := generateWithCache(t, "postgres")
	port := freePort(t)
	env := append(cleanEnv(), "TokenCache__PostgresUrl=postgres://idweb@localhost:"+port+"/idweb?sslmode=disable")
	// Where the cluster lives: .devidp/postgres, or as root (PostgreSQL
	// refuses to run as root) a directory of the postgres user's.
	where := ".devidp/postgres"
	if os.Getuid() == 0 {
		where = "/var/tmp/idweb-devstore-"
	}
	checkCluster := func(t *testing.T, where string, run func(action string) string) {
		t.Helper()
		out := run("start")
		t.Cleanup(func() { run("stop") })
		wantLine(t, out, "devstore: started PostgreSQL in "+where)
		if !strings.Contains(out, "on 127.0.0.1:"+port+" (role idweb, database idweb)") {
			t.Errorf("start does not say where it listens, as whom:\n%s", out)
		}
		if strings.HasPrefix(where, "/") {
			base := strings.TrimSuffix(strings.Fields(strings.TrimPrefix(out, "devstore: started PostgreSQL in "))[0], "/postgres")
			t.Cleanup(func() { os.RemoveAll(base) })
			if st, err := os.Stat(base); err != nil || st.Mode().Perm() != 0o700 {
				t.Errorf("%s: %v, want a directory only the postgres user opens", base, err)
			}
		}
		// The role and database the URL names exist, and take connections.
		psql := exec.Command("psql", "-X", "-qAt", "-h", "127.0.0.1", "-p", port, "-U", "idweb", "-d", "idweb", "-c", "select current_user")
		if got, err := psql.CombinedOutput(); err != nil || strings.TrimSpace(string(got)) != "idweb" {
			t.Fatalf("psql as idweb: %s %v", got, err)
		}
		wantLine(t, run("start"), "devstore: PostgreSQL ("+where)
		wantLine(t, run("stop"), "devstore: stopped PostgreSQL ("+where)
		waitFree(t, "127.0.0.1:"+port)
	}

	t.Run("as the user running make dev", func(t *testing.T) {
		if _, err := user.Lookup("postgres"); err != nil && os.Getuid() == 0 {
			wantLine(t, devstore(t, dir, env, "start"), "devstore: PostgreSQL does not run as root, and there is no postgres user to run it as")
			return
		}
		checkCluster(t, where, func(action string) string { return devstore(t, dir, env, action) })
	})
	if os.Getuid() == 0 {
		// And as an ordinary user, in a project of theirs.
		t.Run("as an ordinary user", func(t *testing.T) {
			nobody, err := user.Lookup("nobody")
			if err != nil {
				t.Skipf("no ordinary user to run make dev as: %v", err)
			}
			own := chownTree(t, dir, nobody)
			checkCluster(t, ".devidp/postgres", func(action string) string {
				return devstore(t, own, env, action, "runuser", "-u", "nobody", "--")
			})
		})
	}
}

// generateWithCache renders a project with the token cache cache.
func generateWithCache(t *testing.T, cache string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "demo")
	if _, err := generator.Generate(context.Background(), generator.Options{
		Name: "demo", Output: dir, Cache: cache,
		TenantID: "11111111-2222-3333-4444-555555555555",
		ClientID: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
	}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// devstore runs sh scripts/devstore.sh action in dir, as make dev and make
// stop-store do (behind wrap, a command prefix, when given), and returns
// what it printed. It must exit 0: it never stops make dev.
func devstore(t *testing.T, dir string, env []string, action string, wrap ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append(wrap, "sh", "scripts/devstore.sh", action)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/devstore.sh %s: %v\n%s", action, err, out)
	}
	return string(out)
}

// wantLine fails unless a line of out starts with prefix.
func wantLine(t *testing.T, out, prefix string) {
	t.Helper()
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, prefix) {
			return
		}
	}
	t.Fatalf("want a line starting %q, got:\n%s", prefix, out)
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// waitFree waits until nothing listens on addr.
func waitFree(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for inUse(addr) {
		if time.Now().After(deadline) {
			t.Fatalf("%s still listens after make stop-store", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// redisPing sends PING to the Redis on port and returns its answer.
func redisPing(t *testing.T, port string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(line)
}

// chownTree copies the project dir into a directory u owns, which u can
// reach, and returns the copy.
func chownTree(t *testing.T, dir string, u *user.User) string {
	t.Helper()
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	parent, err := os.MkdirTemp("", "devstore-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(parent, "demo")
	if err := os.CopyFS(dst, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(dst, func(path string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
