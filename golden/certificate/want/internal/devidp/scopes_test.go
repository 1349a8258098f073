package devidp

import "testing"

// Graph scopes of the national clouds name the stand-in's one Graph.
func TestGraphScopesOfEveryCloud(t *testing.T) {
	for _, sc := range []string{"User.Read", "https://graph.microsoft.com/User.Read", "https://graph.microsoft.us/User.Read",
		"https://microsoftgraph.chinacloudapi.cn/User.Read", "00000003-0000-0000-c000-000000000000/User.Read"} {
		ss, oerr := parseScopes("openid " + sc)
		if oerr != nil {
			t.Fatalf("%s: %v", sc, oerr.desc)
		}
		if aud, scp := ss.accessTokenScopes(); aud != graphResource || scp[0] != "User.Read" {
			t.Errorf("%s: aud %s, scp %v; want Graph's", sc, aud, scp)
		}
	}
}
