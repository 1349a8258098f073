package prompt

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/idweb-init/idweb-init/generator"
)

// askMoreAPIs offers, after the custom API's questions, to add more APIs,
// asking each one's name, base URL, whether the app calls it as itself,
// and its scopes. With more than one API every API is a named one (a key
// of DownstreamApis in appsettings.json, as in Microsoft.Identity.Web):
// the first moves from --api-name, --called-api-url and
// --called-api-scopes to the first --downstream-api, under its --api-name,
// and the others follow as --downstream-api values.
func askMoreAPIs(p Prompter, o *generator.Options) error {
	first := o.APIName
	if first == "" {
		first = generator.DefaultAPIName
	}
	names := []string{first}
	for _, s := range o.DownstreamAPIs {
		name, _, _ := strings.Cut(s, "=")
		names = append(names, name)
	}
	var more []string
	for {
		add, err := p.Confirm(Confirm{
			Message: "Add another API?",
			Help:    "The app can call several APIs: each gets a name, a base URL and scopes, under DownstreamApis in appsettings.json.",
		})
		if err != nil {
			return err
		}
		if !add {
			break
		}
		spec, err := askNamedAPI(p, names)
		if err != nil {
			return err
		}
		more = append(more, spec)
		name, _, _ := strings.Cut(spec, "=")
		names = append(names, name)
	}
	if len(more) == 0 {
		return nil
	}
	if o.CalledAPIURL != "" {
		o.DownstreamAPIs = append(o.DownstreamAPIs, first+"="+o.CalledAPIURL+"|"+strings.Join(o.CalledAPIScopes, " "))
		o.APIName, o.CalledAPIURL, o.CalledAPIScopes = "", "", nil
	}
	o.DownstreamAPIs = append(o.DownstreamAPIs, more...)
	return nil
}

// askNamedAPI asks for one more API and returns it as a --downstream-api
// value; taken are the names already used.
func askNamedAPI(p Prompter, taken []string) (string, error) {
	name, err := p.Input(Input{
		Message: "Name of the API:",
		Help:    "Its key under DownstreamApis in appsettings.json and the name the code calls it by: a letter, then letters, digits or _.",
		Validate: func(s string) error {
			if err := generator.ValidateAPIName(s); err != nil {
				return err
			}
			if oneOf(s, taken) {
				return fmt.Errorf("%q is taken (the APIs so far: %s)", s, strings.Join(taken, ", "))
			}
			return nil
		},
	})
	if err != nil {
		return "", err
	}
	url, err := p.Input(Input{
		Message:  "The API's base URL:",
		Help:     "The https URL the API's paths are relative to, e.g. https://orders.contoso.com/api.",
		Validate: generator.ValidateAPIURL,
	})
	if err != nil {
		return "", err
	}
	asApp, err := p.Confirm(Confirm{
		Message: "Call it as the app (with the app's own token, not the user's)?",
		Help:    "Yes: the app calls the API as itself, with the app roles granted to it (scope api://<app id>/.default). No: it calls the API for the signed-in user, with delegated scopes.",
	})
	if err != nil {
		return "", err
	}
	spec := func(scopes string) string {
		s := name + "=" + url + "|" + strings.Join(strings.Fields(scopes), " ")
		if asApp {
			s += "|app"
		}
		return s
	}
	q := Input{
		Message: "The API's scopes (space-separated):",
		Help:    "The delegated scopes the user consents to, each qualified by the API's application ID URI, e.g. api://<app id>/access_as_user.",
	}
	if asApp {
		q.Message = "The API's scope (api://<app id>/.default):"
		q.Help = "One scope: the API's application ID URI followed by /.default, e.g. api://<app id>/.default."
	}
	q.Validate = func(scopes string) error {
		s := spec(scopes)
		if _, err := generator.ParseDownstreamAPI(s); err != nil {
			return fmt.Errorf("%s", strings.TrimPrefix(err.Error(), strconv.Quote(s)+": "))
		}
		return nil
	}
	scopes, err := p.Input(q)
	if err != nil {
		return "", err
	}
	return spec(scopes), nil
}
