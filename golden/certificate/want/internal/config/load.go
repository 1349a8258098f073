// Package config reads the app's settings the way ASP.NET Core apps using
// Microsoft.Identity.Web read theirs, so one app registration's settings work
// in either stack:
//
//  1. appsettings.json
//  2. appsettings.{APP_ENV}.json (optional), merged over it
//  3. environment variables, where "__" separates keys
//     (AzureAd__ClientCredentials__0__ClientSecret overrides that one key),
//     and AllowedHosts
//
// Keys match case-insensitively, as in .NET.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
)

// Environments the app knows. Development unlocks the settings in the
// Development section; anything else is treated as production.
const (
	Development = "Development"
	Production  = "Production"
)

// tree is the merged settings document: map[string]any, []any and scalars,
// as encoding/json decodes them.
type tree = map[string]any

// Load reads the settings files from dir for the environment appEnv ("" means
// Production) and applies the overrides found in environ (KEY=VALUE strings,
// as from os.Environ), then validates the result.
func Load(dir, appEnv string, environ []string) (*Config, error) {
	appEnv = canonicalEnvironment(appEnv)
	root, err := readFile(filepath.Join(dir, "appsettings.json"), true)
	if err != nil {
		return nil, err
	}
	overlay, err := readFile(filepath.Join(dir, "appsettings."+appEnv+".json"), false)
	if err != nil {
		return nil, err
	}
	merge(root, overlay)
	for _, kv := range environ {
		key, value, ok := strings.Cut(kv, "=")
		// Top-level keys come from the environment only when they are
		// settings of ours (PATH or HOME are not).
		if !ok || (!strings.Contains(key, "__") && !strings.EqualFold(key, "AllowedHosts")) {
			continue
		}
		set(root, strings.Split(key, "__"), value)
	}
	cfg, err := decode(root)
	if err != nil {
		return nil, err
	}
	cfg.Environment = appEnv
	cfg.Dir = dir
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func readFile(path string, required bool) (tree, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !required {
		return tree{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var t tree
	if err := json.Unmarshal(data, &t); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := position(data, se.Offset)
			return nil, fmt.Errorf("config: %s:%d:%d: %v", filepath.Base(path), line, col, err)
		}
		return nil, fmt.Errorf("config: %s: %w", filepath.Base(path), err)
	}
	return t, nil
}

// position returns the 1-based line and column of the byte before offset,
// where encoding/json stopped.
func position(data []byte, offset int64) (line, col int) {
	line, col = 1, 0
	for i := 0; i < int(offset) && i < len(data); i++ {
		if data[i] == '\n' {
			line, col = line+1, 0
			continue
		}
		col++
	}
	return line, col
}

// canonicalEnvironment spells the well-known environment names as .NET
// does and compares them case-insensitively as .NET does: APP_ENV=development
// is Development. Empty means Production.
func canonicalEnvironment(env string) string {
	for _, known := range []string{Development, "Staging", Production} {
		if strings.EqualFold(env, known) {
			return known
		}
	}
	if env == "" {
		return Production
	}
	return env
}

// lookup finds key in t case-insensitively and returns the key as stored.
func lookup(t tree, key string) (string, bool) {
	if _, ok := t[key]; ok {
		return key, true
	}
	for k := range t {
		if strings.EqualFold(k, key) {
			return k, true
		}
	}
	return key, false
}

// merge copies src over dst: objects merge key by key, arrays element by
// element (as .NET configuration does, where "Scopes:0" is just a key), and
// anything else replaces what was there.
func merge(dst, src tree) {
	for k, v := range src {
		dk, ok := lookup(dst, k)
		if !ok {
			dst[k] = v
			continue
		}
		dst[dk] = mergeValue(dst[dk], v)
	}
}

func mergeValue(dst, src any) any {
	switch s := src.(type) {
	case tree:
		if d, ok := dst.(tree); ok {
			merge(d, s)
			return d
		}
	case []any:
		if d, ok := dst.([]any); ok {
			for i, v := range s {
				if i < len(d) {
					d[i] = mergeValue(d[i], v)
				} else {
					d = append(d, v)
				}
			}
			return d
		}
	}
	return src
}

// set assigns value at path, creating objects (or arrays, for numeric keys)
// on the way. A scalar value stays a string: "Scopes" set to "user.read"
// replaces the array with a string, which validation then refuses by name.
func set(t tree, path []string, value string) {
	var node any = t
	parentSet := func(any) {}
	for i, seg := range path {
		last := i == len(path)-1
		switch n := node.(type) {
		case tree:
			k, _ := lookup(n, seg)
			if last {
				n[k] = value
				return
			}
			child, ok := n[k]
			if !ok || !isContainer(child) {
				child = newContainer(path[i+1])
				n[k] = child
			}
			parentSet = func(v any) { n[k] = v }
			node = child
		case []any:
			idx, err := strconv.Atoi(seg)
			if err != nil || idx < 0 || idx > 1024 {
				// Not an index: turn the array into an object keyed by position.
				obj := tree{}
				for j, v := range n {
					obj[strconv.Itoa(j)] = v
				}
				parentSet(obj)
				node = obj
				set(obj, path[i:], value)
				return
			}
			for len(n) <= idx {
				n = append(n, nil)
			}
			parentSet(n)
			if last {
				n[idx] = value
				return
			}
			if !isContainer(n[idx]) {
				n[idx] = newContainer(path[i+1])
			}
			arr := n
			parentSet = func(v any) { arr[idx] = v }
			node = n[idx]
		}
	}
}

func isContainer(v any) bool {
	switch v.(type) {
	case tree, []any:
		return true
	}
	return false
}

func newContainer(nextKey string) any {
	if _, err := strconv.Atoi(nextKey); err == nil {
		return []any{}
	}
	return tree{}
}

// decode turns the merged tree into a Config. Environment variables are
// strings, so "true"/"false" are accepted for booleans.
func decode(root tree) (*Config, error) {
	if err := checkShapes(root); err != nil {
		return nil, err
	}
	coerce(root, reflect.TypeFor[Config]())
	data, err := json.Marshal(root)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var cfg Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("config: %s: expected %s, got a JSON %s", keyName(te.Field), te.Type, te.Value)
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg.raw = root
	return &cfg, nil
}

// keyName turns encoding/json's "AzureAd.ClientCredentials.0.SourceType"
// into the .NET form "AzureAd:ClientCredentials:0:SourceType".
func keyName(field string) string { return strings.ReplaceAll(field, ".", ":") }

// coerce turns the strings that environment variables set into the type
// of the setting they land on, as .NET configuration binding does:
// TokenCache__L1=false is the bool false, TokenCache__MaxPartitions=5000
// the number. A string that does not parse is left alone, and decoding then
// names the key and the type it expected.
func coerce(v any, t reflect.Type) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n := v.(type) {
	case tree:
		for k, c := range n {
			if ft, ok := fieldType(t, k); ok {
				n[k] = coerce(c, ft)
			}
		}
	case []any:
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			for i, c := range n {
				n[i] = coerce(c, t.Elem())
			}
		}
	case string:
		switch t.Kind() {
		case reflect.Bool:
			if b, err := strconv.ParseBool(n); err == nil {
				return b
			}
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Float32, reflect.Float64:
			if f, err := strconv.ParseFloat(strings.TrimSpace(n), 64); err == nil {
				return json.Number(strconv.FormatFloat(f, 'f', -1, 64))
			}
		}
	}
	return v
}

// fieldType returns the type of the member key of a struct (its JSON name,
// case-insensitively) or map of type t.
func fieldType(t reflect.Type, key string) (reflect.Type, bool) {
	switch t.Kind() {
	case reflect.Map:
		return t.Elem(), true
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if strings.EqualFold(name, key) {
				return f.Type, true
			}
		}
	}
	return nil, false
}
