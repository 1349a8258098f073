package config

// apiSettings holds the downstream API this app calls: Microsoft Graph, in
// the section Microsoft.Identity.Web's Graph integration reads.
type apiSettings struct {
	MicrosoftGraph DownstreamAPI
}

func (s apiSettings) validate(env string) error {
	return s.MicrosoftGraph.validate("MicrosoftGraph", env)
}
