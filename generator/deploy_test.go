package generator

import (
	"bytes"
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// renderProject renders o in memory and returns its files by path.
func renderProject(t *testing.T, o Options) map[string][]byte {
	t.Helper()
	tree, err := EmbeddedTree()
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	plan, err := NewPlan(tree, o)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Render(context.Background(), tree, plan, NewData(o))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range out {
		if !f.Skip {
			files[f.Path] = f.Content
		}
	}
	return files
}

func baseOptions(creds ...string) Options {
	return Options{Name: "My_App", Module: "example.com/myapp", Output: "x",
		TenantID: "11111111-2222-3333-4444-555555555555", ClientID: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		Credentials: creds}
}

// Every project has a Dockerfile: a build stage and a final stage that
// holds only the static binary and appsettings.json, runs as a non-root
// user, and is given no secret; .dockerignore keeps secrets out of the
// build context.
func TestDockerfile(t *testing.T) {
	for _, cred := range credentialShapes {
		t.Run(cred.Name, func(t *testing.T) {
			o := baseOptions()
			cred.Apply(&o)
			files := renderProject(t, o)
			df := string(files["Dockerfile"])
			from := regexp.MustCompile(`(?m)^FROM (\S+)(?: AS (\S+))?$`).FindAllStringSubmatch(df, -1)
			if len(from) != 2 || from[0][2] != "build" || from[1][2] != "" {
				t.Fatalf("stages %q, want a build stage and a final one\n%s", from, df)
			}
			final := df[strings.LastIndex(df, "\nFROM "):]
			for _, want := range []string{"CGO_ENABLED=0 go build", "USER nonroot"} {
				if !strings.Contains(df, want) {
					t.Errorf("Dockerfile lacks %q", want)
				}
			}
			copies := regexp.MustCompile(`(?m)^COPY (.*)$`).FindAllStringSubmatch(final, -1)
			var copied []string
			for _, c := range copies {
				copied = append(copied, c[1])
			}
			if want := []string{"--from=build /out/app /app/app", "appsettings.json /app/appsettings.json"}; !slices.Equal(copied, want) {
				t.Errorf("the final stage copies %q, want %q", copied, want)
			}
			if regexp.MustCompile(`(?mi)^(ENV|ARG) .*(secret|password|key)`).MatchString(df) || strings.Contains(df, "devidp") && !strings.Contains(df, "(cmd/devidp) is not built") {
				t.Errorf("the Dockerfile bakes in a secret or the stand-in:\n%s", df)
			}
			ignore := strings.Fields(string(files[".dockerignore"]))
			for _, want := range []string{".env", ".devidp/", "appsettings.Development.json"} {
				if !slices.Contains(ignore, want) {
					t.Errorf(".dockerignore lacks %s", want)
				}
			}
		})
	}
}

// A workload-identity project's Kubernetes manifests: the service account
// carries the app's client id, the pod the label that turns the webhook
// on and that service account, and the names are valid object names.
func TestKubernetesManifests(t *testing.T) {
	files := renderProject(t, baseOptions("workload-identity"))
	src, ok := files["deploy/kubernetes.yaml"]
	if !ok {
		t.Fatal("no deploy/kubernetes.yaml")
	}
	if _, ok := renderProject(t, baseOptions("certificate"))["deploy/kubernetes.yaml"]; ok {
		t.Error("a certificate project has Kubernetes manifests for workload identity")
	}
	type object struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name        string            `json:"name"`
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			Template struct {
				Metadata struct {
					Labels map[string]string `json:"labels"`
				} `json:"metadata"`
				Spec struct {
					ServiceAccountName string `json:"serviceAccountName"`
					SecurityContext    struct {
						RunAsNonRoot bool `json:"runAsNonRoot"`
					} `json:"securityContext"`
					Containers []struct {
						Image string `json:"image"`
						Ports []struct {
							ContainerPort int `json:"containerPort"`
						} `json:"ports"`
						Env []struct {
							Name      string `json:"name"`
							Value     string `json:"value"`
							ValueFrom any    `json:"valueFrom"`
						} `json:"env"`
					} `json:"containers"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	byKind := map[string]object{}
	for _, doc := range bytes.Split(src, []byte("\n---\n")) {
		var o object
		if err := yaml.Unmarshal(doc, &o); err != nil {
			t.Fatalf("not YAML: %v\n%s", err, doc)
		}
		byKind[o.Kind] = o
	}
	sa, dep, svc := byKind["ServiceAccount"], byKind["Deployment"], byKind["Service"]
	if sa.APIVersion != "v1" || dep.APIVersion != "apps/v1" || svc.APIVersion != "v1" {
		t.Fatalf("objects: %+v", byKind)
	}
	name := regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	for _, o := range []object{sa, dep, svc} {
		if o.Metadata.Name != "my-app" || !name.MatchString(o.Metadata.Name) {
			t.Errorf("%s name %q, want my-app (an RFC 1123 label made from My_App)", o.Kind, o.Metadata.Name)
		}
	}
	if got := sa.Metadata.Annotations["azure.workload.identity/client-id"]; got != "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee" {
		t.Errorf("service account client-id annotation = %q", got)
	}
	pod := dep.Spec.Template
	if pod.Metadata.Labels["azure.workload.identity/use"] != "true" || pod.Spec.ServiceAccountName != sa.Metadata.Name {
		t.Errorf("pod labels %v, service account %q", pod.Metadata.Labels, pod.Spec.ServiceAccountName)
	}
	for k, v := range dep.Spec.Selector.MatchLabels {
		if pod.Metadata.Labels[k] != v {
			t.Errorf("the selector %s=%s does not match the pod's labels", k, v)
		}
	}
	if !pod.Spec.SecurityContext.RunAsNonRoot || len(pod.Spec.Containers) != 1 || pod.Spec.Containers[0].Ports[0].ContainerPort != 8080 {
		t.Errorf("pod spec: %+v", pod.Spec)
	}
	for _, e := range pod.Spec.Containers[0].Env {
		if strings.Contains(strings.ToLower(e.Name), "key") && e.ValueFrom == nil {
			t.Errorf("%s is a literal in the manifest, want a secretKeyRef", e.Name)
		}
	}
	// The federated credential's subject in the README is this service account.
	if !bytes.Contains(files["README.md"], []byte(`"subject": "system:serviceaccount:default:my-app"`)) {
		t.Error("the README's federated credential does not name the manifests' service account")
	}
}

// Every credential value is in the matrix's credential shapes.
func TestCredentialShapes(t *testing.T) {
	var in []string
	for _, s := range credentialShapes {
		var o Options
		s.Apply(&o)
		in = append(in, o.Credentials...)
	}
	for _, v := range Lookup("credential").Values {
		if !slices.Contains(in, v.Name) {
			t.Errorf("credential %s is in no credential shape", v.Name)
		}
	}
}
