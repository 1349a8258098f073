package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// DownstreamAPIsSection holds several named APIs, as in
// Microsoft.Identity.Web: "DownstreamApis": {"Orders": {...}, "Stock": {...}}.
const DownstreamAPIsSection = "DownstreamApis"

// DownstreamAPI returns the settings of the API the code calls name: the
// section DownstreamApis:<name>, or else a top-level section <name>
// ("MicrosoftGraph", "DownstreamApi"). The app asks for each API it calls
// at start-up, so a name without a section stops it there.
func (c *Config) DownstreamAPI(name string) (DownstreamAPI, error) {
	section, v, ok := c.apiSection(name)
	if !ok {
		return DownstreamAPI{}, fmt.Errorf("config: the app calls the API %q, but there is no section %s:%s or %s in the settings", name, DownstreamAPIsSection, name, name)
	}
	api, err := decodeAPI(section, v)
	if err != nil {
		return DownstreamAPI{}, err
	}
	if err := api.validate(section, c.Environment); err != nil {
		return DownstreamAPI{}, err
	}
	return api, nil
}

// DownstreamAPINames returns the names under DownstreamApis, sorted.
func (c *Config) DownstreamAPINames() []string {
	k, ok := lookup(c.raw, DownstreamAPIsSection)
	if !ok {
		return nil
	}
	apis, _ := c.raw[k].(tree)
	var names []string
	for n := range apis {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (c *Config) apiSection(name string) (section string, v any, ok bool) {
	if k, found := lookup(c.raw, DownstreamAPIsSection); found {
		if apis, isTree := c.raw[k].(tree); isTree {
			if n, found := lookup(apis, name); found {
				return DownstreamAPIsSection + ":" + n, apis[n], true
			}
		}
	}
	if k, found := lookup(c.raw, name); found {
		return k, c.raw[k], true
	}
	return "", nil, false
}

// validateAPIs checks every entry of DownstreamApis at load time; top-level
// API sections are checked when the code asks for them.
func (c *Config) validateAPIs() error {
	k, ok := lookup(c.raw, DownstreamAPIsSection)
	if !ok {
		return nil
	}
	apis, isTree := c.raw[k].(tree)
	if !isTree {
		return fmt.Errorf("config: %s must be an object of named APIs, e.g. {\"Orders\": {\"BaseUrl\": ..., \"Scopes\": [...]}}", DownstreamAPIsSection)
	}
	for _, name := range c.DownstreamAPINames() {
		section := DownstreamAPIsSection + ":" + name
		api, err := decodeAPI(section, apis[name])
		if err != nil {
			return err
		}
		if err := api.validate(section, c.Environment); err != nil {
			return err
		}
	}
	return nil
}

func decodeAPI(section string, v any) (DownstreamAPI, error) {
	if _, ok := v.(tree); !ok {
		return DownstreamAPI{}, fmt.Errorf("config: %s must be an object with BaseUrl and Scopes", section)
	}
	data, err := json.Marshal(coerce(v, reflect.TypeFor[DownstreamAPI]()))
	if err != nil {
		return DownstreamAPI{}, fmt.Errorf("config: %s: %w", section, err)
	}
	var api DownstreamAPI
	if err := json.Unmarshal(data, &api); err != nil {
		return DownstreamAPI{}, fmt.Errorf("config: %s: %s", section, strings.TrimPrefix(err.Error(), "json: "))
	}
	api.Section = section
	return api, nil
}
