#!/bin/sh
# The Redis of make dev, for development on this machine.
#
#   sh scripts/devstore.sh start   (make dev) make sure a Redis answers at
#                                  TokenCache:RedisUrl, starting one if need be
#   sh scripts/devstore.sh stop    (make stop-store) stop the one start started
#
# TokenCache:RedisUrl is read as the app reads it under make dev: from the
# environment, else .env, else appsettings.Development.json, else
# appsettings.json. When the URL names another machine (a managed Redis),
# start leaves it to the app. When it names this one and a Redis answers
# there, start uses it. When nothing listens there, start runs redis-server
# bound to 127.0.0.1 on the URL's port, its data in .devidp/redis, and leaves
# it running so that the tokens outlive restarts of the app. start
# never stops make dev: when no Redis can answer it says why, and the app
# starts anyway (pages that need a token answer 503 until one does).
set -u
cd "$(dirname "$0")/.." || exit 1
dir=.devidp/redis

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

url=${TokenCache__RedisUrl:-}
[ -n "$url" ] || url=$(dotenv TokenCache__RedisUrl)
[ -n "$url" ] || url=$(setting RedisUrl appsettings.Development.json)
[ -n "$url" ] || url=$(setting RedisUrl appsettings.json)
hostport=${url#*://}
hostport=${hostport%%[/?#]*}
hostport=${hostport##*@}
host=${hostport%:*} port=${hostport##*:}
case $port in '' | *[!0-9]*) host=$hostport port=6379 ;; esac

# ping prints what the Redis at the URL answers to PING, within 3 seconds
# (something else holding the port may never answer).
limit=
command -v timeout >/dev/null 2>&1 && limit="timeout 3"
ping() {
	out=$($limit redis-cli --no-auth-warning -u "$url" ping 2>&1)
	[ $? -ne 124 ] || out="no answer within 3 s"
	echo "$out" | head -n 1
}

# running reports whether the Redis that start started still runs.
running() {
	pid=$(cat "$dir/redis.pid" 2>/dev/null) &&
		case $(ps -p "$pid" -o comm= 2>/dev/null) in *redis*) true ;; *) false ;; esac
}

start() {
	case $host in
	localhost | 127.0.0.1) ;;
	'') return ;; # no URL: the app says what it wants
	*)
		say "TokenCache:RedisUrl names $host:$port: the app uses that Redis, none is started here"
		return
		;;
	esac
	if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
		say "redis-server is not installed, so make dev cannot start a Redis at $host:$port: sudo apt-get install redis-server (or brew install redis), or set TokenCache__RedisUrl to a Redis you run (README.md, Token cache)"
		return
	fi
	answer=$(ping)
	case $answer in
	*PONG*)
		if running; then
			say "Redis (.devidp/redis) answers on 127.0.0.1:$port; it keeps running after make dev: make stop-store stops it"
		else
			say "using the Redis that answers at $host:$port"
		fi
		return
		;;
	*NOAUTH* | *WRONGPASS* | *"AUTH "*)
		say "the Redis at $host:$port refuses TokenCache:RedisUrl's password ($answer)"
		return
		;;
	*"Connection refused"*) ;; # nothing listens there: start one
	*)
		say "$host:$port is taken by something that does not answer as Redis ($answer): stop it, or set TokenCache__RedisUrl to another port or server"
		return
		;;
	esac
	if running; then
		say "Redis (.devidp/redis) runs, but not on port $port, TokenCache:RedisUrl's: make stop-store, then make dev again"
		return
	fi
	case $url in *@*)
		say "no Redis answers at $host:$port, and make dev starts one only for a URL without a password (redis://localhost:$port/0)"
		return
		;;
	esac

	[ -d .devidp ] || mkdir -m 700 .devidp
	mkdir -p "$dir" || return
	cat >"$dir/redis.conf" <<EOF
# Written by scripts/devstore.sh for make dev: this machine only, no password.
bind 127.0.0.1
port $port
dir ./
daemonize yes
pidfile redis.pid
logfile redis.log
EOF
	: >"$dir/redis.log"
	(cd "$dir" && redis-server ./redis.conf) || return
	i=0
	while [ $i -lt 50 ]; do
		case $(ping) in *PONG*)
			say "started Redis in .devidp/redis on 127.0.0.1:$port; it keeps running after make dev: make stop-store stops it"
			return
			;;
		esac
		grep -q "Address already in use" "$dir/redis.log" && break
		sleep 0.1
		i=$((i + 1))
	done
	if grep -q "Address already in use" "$dir/redis.log"; then
		say "$host:$port is taken by something that does not answer as Redis: stop it, or set TokenCache__RedisUrl to another port or server"
	else
		say "Redis did not start on 127.0.0.1:$port: see $dir/redis.log"
	fi
}

stop() {
	if ! running; then
		say "no Redis of make dev's runs (.devidp/redis)"
		return
	fi
	# On SIGTERM Redis saves its data (.devidp/redis/dump.rdb), then exits.
	kill "$pid"
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	say "stopped Redis (.devidp/redis); its data stays for the next make dev (rm -rf .devidp/redis forgets it)"
}

case ${1:-} in
start) start ;;
stop) stop ;;
*)
	echo "usage: sh scripts/devstore.sh start|stop" >&2
	exit 2
	;;
esac
