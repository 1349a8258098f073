#!/bin/sh
# The PostgreSQL of make dev, for development on this machine.
#
#   sh scripts/devstore.sh start   (make dev) make sure a PostgreSQL answers at
#                                  TokenCache:PostgresUrl, starting one if need be
#   sh scripts/devstore.sh stop    (make stop-store) stop the one start started
#
# TokenCache:PostgresUrl is read as the app reads it under make dev: from the
# environment, else .env, else appsettings.Development.json, else
# appsettings.json. When the URL names another machine (a managed database),
# start leaves it to the app. When it names this one and a PostgreSQL answers
# there, start uses it. When nothing listens there, start runs a cluster of
# yours in .devidp/postgres: listening on 127.0.0.1 at the URL's port, its
# socket in that directory, trusting local connections (no password), with
# the role and database the URL names. PostgreSQL does not run as root: as
# root the cluster runs as the postgres user (Debian's package makes it), in
# a directory of its own under /var/tmp, since only root opens .devidp. It leaves it running so that the
# tokens outlive restarts of the app. start never stops make dev: when no
# PostgreSQL can answer it says why, and the app starts anyway (pages that
# need a token answer 503 until one does).
set -u
cd "$(dirname "$0")/.." || exit 1
data=.devidp/postgres
log=.devidp/postgres.log
as='' admin=$(id -un)
if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1 && command -v runuser >/dev/null 2>&1; then
	# One directory per project (its path's checksum), the postgres user's.
	base=/var/tmp/idweb-devstore-$(pwd -P | cksum | cut -d ' ' -f 1)
	data=$base/postgres log=$base/postgres.log
	as="runuser -u postgres --" admin=postgres
fi

say() { echo "devstore: $*" >&2; }

# dotenv prints the value .env gives the variable $1, if any.
dotenv() {
	[ -f .env ] && sed -n "s/^ *\(export  *\)\{0,1\}$1 *= *//p" .env |
		tail -n 1 | sed "s/ *\$//; s/^\"\(.*\)\"\$/\1/; s/^'\(.*\)'\$/\1/"
}

# setting prints the value of "$1" in the JSON file $2, if any.
setting() {
	[ -f "$2" ] && sed -n "s/.*\"$1\" *: *\"\([^\"]*\)\".*/\1/p" "$2" | head -n 1
}

url=${TokenCache__PostgresUrl:-}
[ -n "$url" ] || url=$(dotenv TokenCache__PostgresUrl)
[ -n "$url" ] || url=$(setting PostgresUrl appsettings.Development.json)
[ -n "$url" ] || url=$(setting PostgresUrl appsettings.json)
rest=${url#*://}
hostport=${rest%%[/?#]*}
user=
case $hostport in *@*)
	user=${hostport%@*} user=${user%%:*} hostport=${hostport##*@}
	;;
esac
db=
case $rest in */*) db=${rest#*/} db=${db%%[?#]*} ;; esac
user=${user:-$(id -un)} db=${db:-$user}
host=${hostport%:*} port=${hostport##*:}
case $port in '' | *[!0-9]*) host=$hostport port=5432 ;; esac

# bin is the directory of initdb and pg_ctl: PATH's, or the newest of
# Debian's /usr/lib/postgresql/<version>/bin (not on PATH).
bin=
if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
	bin=$(dirname "$(command -v pg_ctl)")
else
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && bin=$d # the last is the newest
	done
fi
psql=$(command -v psql 2>/dev/null)
[ ! -x "$bin/psql" ] || psql=$bin/psql

# answer prints why the server at the URL does not answer (nothing when it
# does), within 3 seconds: something else holding the port may never answer.
answer() {
	out=$(PGCONNECT_TIMEOUT=3 LC_ALL=C "$psql" -X "$url" -Atqc "SELECT 1" 2>&1 >/dev/null) ||
		echo "${out:-no answer}" | sed -n 's/^psql: error: //; s/.*failed: //; s/^FATAL: *//; /./{p;q;}'
}

# ours reports whether the cluster in .devidp/postgres runs.
ours() { [ -n "$bin" ] && [ -f "$data/PG_VERSION" ] && $as "$bin/pg_ctl" status -D "$data" >/dev/null 2>&1; }

# setup creates the role and the database the URL names, when missing (in
# the cluster of make dev, whose superuser is you, or postgres as root).
setup() {
	"$psql" -X -h 127.0.0.1 -p "$port" -U "$admin" -d postgres -qAt -v ON_ERROR_STOP=1 \
		-v user="$user" -v db="$db" >/dev/null <<-'EOF'
		SELECT format('CREATE ROLE %I LOGIN', :'user') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user')
		\gexec
		SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')
		\gexec
	EOF
}

start() {
	case $host in
	localhost | 127.0.0.1) ;;
	'') return ;; # no URL, or a socket: the app says what it wants
	*)
		say "TokenCache:PostgresUrl names $host:$port: the app uses that PostgreSQL, none is started here"
		return
		;;
	esac
	install="sudo apt-get install postgresql (or brew install postgresql), or set TokenCache__PostgresUrl to a PostgreSQL you run (README.md, Token cache)"
	if [ -z "$psql" ]; then
		say "PostgreSQL is not installed, so make dev cannot start one at $host:$port: $install"
		return
	fi
	why=$(answer)
	case $why in
	'')
		if ours; then
			say "PostgreSQL ($data) answers on 127.0.0.1:$port; it keeps running after make dev: make stop-store stops it"
		else
			say "using the PostgreSQL that answers at $host:$port"
		fi
		return
		;;
	*"Connection refused"*) ;; # nothing listens there: start one
	*"does not exist"*)
		if ours && setup; then
			say "PostgreSQL ($data) answers on 127.0.0.1:$port, with role $user and database $db now; make stop-store stops it"
		else
			fix="sudo -u postgres createdb -O $user $db"
			case $why in *role*) fix="sudo -u postgres createuser $user && $fix" ;; esac
			say "the PostgreSQL at $host:$port answers, but $why: $fix (or stop it, and make dev runs its own)"
		fi
		return
		;;
	*)
		say "$host:$port is taken by something that does not answer as PostgreSQL ($why): stop it, or set TokenCache__PostgresUrl to another port or server"
		return
		;;
	esac
	if ours; then
		say "PostgreSQL ($data) runs, but not on port $port, TokenCache:PostgresUrl's: make stop-store, then make dev again"
		return
	fi
	if [ -z "$bin" ]; then
		say "the PostgreSQL server is not installed, so make dev cannot start one at $host:$port: $install"
		return
	fi
	if [ "$(id -u)" = 0 ] && [ -z "$as" ]; then
		say "PostgreSQL does not run as root, and there is no postgres user to run it as, so make dev cannot start one at $host:$port: run make dev as yourself, or set TokenCache__PostgresUrl to a PostgreSQL you run (README.md, Token cache)"
		return
	fi

	if [ ! -f "$data/PG_VERSION" ]; then
		if [ -n "$as" ]; then
			{ [ -d "$base" ] || mkdir -m 700 "$base"; } && : >"$log" && chown postgres: "$base" "$log" || return
		else
			[ -d .devidp ] || mkdir -m 700 .devidp
		fi
		if ! $as "$bin/initdb" -D "$data" -A trust -E UTF8 --locale=C >"$log" 2>&1; then
			say "initdb failed: see $log"
			return
		fi
		cat >>"$data/postgresql.conf" <<-EOF
			# Added by scripts/devstore.sh for make dev: this machine only, the
			# socket beside the data.
			listen_addresses = '127.0.0.1'
			unix_socket_directories = '.'
		EOF
	fi
	if ! $as "$bin/pg_ctl" start -D "$data" -l "$log" -w -t 30 -s -o "-p $port" >/dev/null 2>&1; then
		if tail -n 5 "$log" | grep -q "could not bind"; then
			say "$host:$port is taken by something that does not answer as PostgreSQL: stop it, or set TokenCache__PostgresUrl to another port or server"
		else
			say "PostgreSQL did not start on 127.0.0.1:$port: see $log"
		fi
		return
	fi
	if setup; then
		say "started PostgreSQL in $data${as:+ as the postgres user} on 127.0.0.1:$port (role $user, database $db); it keeps running after make dev: make stop-store stops it"
	else
		say "PostgreSQL started in $data on 127.0.0.1:$port, but creating role $user and database $db failed (see above)"
	fi
}

stop() {
	if ! ours; then
		say "no PostgreSQL of make dev's runs ($data)"
		return
	fi
	$as "$bin/pg_ctl" stop -D "$data" -m fast -s &&
		say "stopped PostgreSQL ($data); its data stays for the next make dev (rm -rf $data forgets it)"
}

case ${1:-} in
start) start ;;
stop) stop ;;
*)
	echo "usage: sh scripts/devstore.sh start|stop" >&2
	exit 2
	;;
esac
