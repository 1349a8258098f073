package main

import (
	"html"
	"net/url"
	"regexp"
	"strings"
)

// A small parser for the stand-in's own pages (internal/devidp/pages.go in
// a generated project): plain html/template output where every form is
// <form method="post" action="..."> with <input name=... value=...> and
// <button name=... value=...>. It is not a general HTML parser.

var (
	formRE    = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form\s*>`)
	controlRE = regexp.MustCompile(`(?is)<(input|button)\b([^>]*)>`)
	attrRE    = regexp.MustCompile(`(?s)([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>` + "`" + `]+)))?`)
	tagRE     = regexp.MustCompile(`(?s)<[^>]*>`)
	hiddenRE  = regexp.MustCompile(`(?is)<(?:style|script|head)\b.*?</(?:style|script|head)\s*>`)
)

type control struct {
	tag   string // "input" or "button"
	attrs map[string]string
}

type htmlForm struct {
	attrs    map[string]string
	controls []control
}

func parseAttrs(s string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRE.FindAllStringSubmatch(s, -1) {
		name := strings.ToLower(a[1])
		if _, dup := m[name]; dup {
			continue // like browsers: the first one wins
		}
		m[name] = html.UnescapeString(a[2] + a[3] + a[4])
	}
	return m
}

func parseForms(page []byte) []htmlForm {
	var forms []htmlForm
	for _, fm := range formRE.FindAllSubmatch(page, -1) {
		f := htmlForm{attrs: parseAttrs(string(fm[1]))}
		for _, cm := range controlRE.FindAllSubmatch(fm[2], -1) {
			f.controls = append(f.controls, control{tag: strings.ToLower(string(cm[1])), attrs: parseAttrs(string(cm[2]))})
		}
		forms = append(forms, f)
	}
	return forms
}

func (c control) isButton() bool {
	switch strings.ToLower(c.attrs["type"]) {
	case "submit", "button", "image", "reset":
		return true
	}
	return c.tag == "button"
}

// hasField reports whether f has a non-button control called name.
func (f htmlForm) hasField(name string) bool {
	for _, c := range f.controls {
		if !c.isButton() && c.attrs["name"] == name {
			return true
		}
	}
	return false
}

// hasButton reports whether f has a button name=value (any value if value
// is empty).
func (f htmlForm) hasButton(name, value string) bool {
	for _, c := range f.controls {
		if c.isButton() && c.attrs["name"] == name && (value == "" || strings.EqualFold(c.attrs["value"], value)) {
			return true
		}
	}
	return false
}

// values returns what a browser submits when button name=value is pressed:
// the form's named non-button controls plus the pressed button.
func (f htmlForm) values(name, value string) url.Values {
	v := url.Values{}
	for _, c := range f.controls {
		n := c.attrs["name"]
		if n == "" || c.isButton() {
			continue
		}
		if _, disabled := c.attrs["disabled"]; disabled {
			continue
		}
		switch strings.ToLower(c.attrs["type"]) {
		case "checkbox", "radio":
			if _, checked := c.attrs["checked"]; !checked {
				continue
			}
		}
		v.Add(n, c.attrs["value"])
	}
	if name != "" {
		v.Set(name, value)
	}
	return v
}

// action resolves the form's action against the page's URL.
func (f htmlForm) action(page *url.URL) (*url.URL, error) {
	return page.Parse(f.attrs["action"]) // "" is the page itself
}

func findForm(forms []htmlForm, ok func(htmlForm) bool) (htmlForm, bool) {
	for _, f := range forms {
		if ok(f) {
			return f, true
		}
	}
	return htmlForm{}, false
}

// snippet returns the visible text of a page, shortened, for error messages.
func snippet(page []byte) string {
	s := strings.Join(strings.Fields(html.UnescapeString(tagRE.ReplaceAllString(hiddenRE.ReplaceAllString(string(page), " "), " "))), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
