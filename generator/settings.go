package generator

import (
	"bytes"
	"encoding/json"
	"strings"
)

// DevIDPBaseURL is where the local stand-in serves (make dev).
const DevIDPBaseURL = "https://127.0.0.1:5443"

// member is one member of a JSON object whose order is kept.
type member struct {
	Key   string
	Value any
}

// object is a JSON object that keeps its members' order.
type object []member

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.Key)
		if err != nil {
			return nil, err
		}
		v, err := marshal(m.Value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// apiSection is the settings section of one API, in
// Microsoft.Identity.Web's shape; dev points it at the local stand-in.
func apiSection(a APISpec, dev bool) object {
	base := a.BaseURL
	if dev {
		base = DevIDPBaseURL + "/apis/" + a.Name
		if a.Kind == "graph" {
			base = DevIDPBaseURL + "/graph/v1.0"
		}
		return object{{"BaseUrl", base}}
	}
	o := object{{"BaseUrl", base}, {"Scopes", a.Scopes}}
	if a.Kind == "custom" {
		o = append(o, member{"RelativePath", ""}, member{"HttpMethod", "GET"})
	}
	if a.RequestAppToken {
		o = append(o, member{"RequestAppToken", true})
	}
	return o
}

// apiSections is the templates' apiSections: the API sections of
// appsettings.json (dev false) or appsettings.Development.json (dev true)
// as members of the top-level object, each line indented by two spaces and
// each member preceded by ",\n" ("" when there are no APIs). APIs at the
// top level come first, then "DownstreamApis" with the named ones, in the
// order they were given.
func apiSections(apis []APISpec, dev bool) (string, error) {
	var top object
	var named object
	for _, a := range apis {
		if a.Named {
			named = append(named, member{a.Name, apiSection(a, dev)})
		} else {
			top = append(top, member{a.Name, apiSection(a, dev)})
		}
	}
	if len(named) > 0 {
		top = append(top, member{"DownstreamApis", named})
	}
	var b strings.Builder
	for _, m := range top {
		v, err := marshal(m.Value)
		if err != nil {
			return "", err
		}
		var ind bytes.Buffer
		if err := json.Indent(&ind, v, "  ", "  "); err != nil {
			return "", err
		}
		k, _ := json.Marshal(m.Key)
		b.WriteString(",\n  ")
		b.Write(k)
		b.WriteString(": ")
		b.Write(ind.Bytes())
	}
	return b.String(), nil
}

// devAPI is an API as the stand-in's devidp.json registers it.
type devAPI struct {
	Name     string   `json:"name"`
	AppIDURI string   `json:"appIdUri"`
	Scopes   []string `json:"scopes,omitempty"`
	AppRoles []string `json:"appRoles,omitempty"`
}

// devidpAPIs is the templates' devidpAPIs: the custom APIs as the
// stand-in registers them (Graph is built in), a JSON array indented for
// devidp.json's top level.
func devidpAPIs(apis []APISpec) (string, error) {
	list := []devAPI{}
	for _, a := range apis {
		if a.Kind != "custom" {
			continue
		}
		d := devAPI{Name: a.Name, AppIDURI: a.AppIDURI}
		if a.RequestAppToken {
			d.AppRoles = []string{a.Name + ".ReadWrite.All"}
		} else {
			d.Scopes = a.ScopeNames
		}
		list = append(list, d)
	}
	v, err := marshal(list)
	if err != nil {
		return "", err
	}
	var ind bytes.Buffer
	if err := json.Indent(&ind, v, "  ", "  "); err != nil {
		return "", err
	}
	return ind.String(), nil
}
