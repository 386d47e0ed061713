package agentmsg

import (
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want string // an error substring; empty: decoded
	}{
		{"token review", `{"kind":"TokenReview","id":"1","tokenReview":{"token":"t"}}`, ""},
		{"access review", `{"kind":"AccessReview","id":"2","accessReview":{"user":{"name":"u"},"verb":"get","subresource":"log"}}`, ""},
		{"answer", `{"kind":"Answer","id":"3","answer":{"allowed":true}}`, ""},
		{"hello", `{"kind":"Hello","id":"4","hello":{}}`, ""},
		{"hello of a port taken", `{"kind":"Hello","id":"4","hello":{"portTaken":{"address":"10.0.0.1:10350","error":"bind: address already in use"}}}`, ""},
		{"hello of a port taken, without its address", `{"kind":"Hello","id":"4","hello":{"portTaken":{"error":"e"}}}`, "without what it asks"},
		{"config", `{"kind":"Config","id":"5","config":{"nodeName":"mesos-c-h1","port":10350,"clientCA":"-----BEGIN CERTIFICATE-----"}}`, ""},
		{"config to serve nothing", `{"kind":"Config","id":"6","config":{"nodeName":"mesos-c-h1"}}`, ""},
		{"no id", `{"kind":"Answer","answer":{}}`, "without an id"},
		{"hello without a hello", `{"kind":"Hello","id":"1"}`, "without what it asks"},
		{"config without a Node", `{"kind":"Config","id":"1","config":{"port":10350}}`, "without what it asks"},
		{"config with a port out of range", `{"kind":"Config","id":"1","config":{"nodeName":"n","port":65536}}`, "without what it asks"},
		{"config with a negative port", `{"kind":"Config","id":"1","config":{"nodeName":"n","port":-1}}`, "without what it asks"},
		{"config with an oversized CA bundle", `{"kind":"Config","id":"1","config":{"nodeName":"n","clientCA":"` + strings.Repeat("x", MaxClientCASize+1) + `"}}`, "without what it asks"},
		{"config asking for the signer's certificate", `{"kind":"Config","id":"7","config":{"nodeName":"n","port":10350,"servingCertificate":"KubeletServingSigner"}}`, ""},
		{"serving CSR", `{"kind":"ServingCSR","id":"1","servingCSR":{"request":"-----BEGIN CERTIFICATE REQUEST-----"}}`, ""},
		{"serving CSR without a request", `{"kind":"ServingCSR","id":"1","servingCSR":{}}`, "without what it asks"},
		{"serving CSR without its part", `{"kind":"ServingCSR","id":"1"}`, "without what it asks"},
		{"oversized serving CSR", `{"kind":"ServingCSR","id":"1","servingCSR":{"request":"` + strings.Repeat("x", MaxCSRSize+1) + `"}}`, "without what it asks"},
		{"serving certificate", `{"kind":"ServingCertificate","id":"1","servingCertificate":{"certificate":"-----BEGIN CERTIFICATE-----"}}`, ""},
		{"serving certificate refused", `{"kind":"ServingCertificate","id":"1","servingCertificate":{"error":"refused"}}`, ""},
		{"serving certificate with neither", `{"kind":"ServingCertificate","id":"1","servingCertificate":{}}`, "without what it asks"},
		{"serving certificate with both", `{"kind":"ServingCertificate","id":"1","servingCertificate":{"certificate":"c","error":"e"}}`, "without what it asks"},
		{"oversized serving certificate", `{"kind":"ServingCertificate","id":"1","servingCertificate":{"certificate":"` + strings.Repeat("x", MaxCertificateSize+1) + `"}}`, "without what it asks"},
		{"unknown kind", `{"kind":"Exec","id":"1"}`, "unknown kind"},
		{"token review without a token", `{"kind":"TokenReview","id":"1","tokenReview":{}}`, "without what it asks"},
		{"access review without a user", `{"kind":"AccessReview","id":"1","accessReview":{"verb":"get"}}`, "without what it asks"},
		{"answer without an answer", `{"kind":"Answer","id":"1"}`, "without what it asks"},
		{"not JSON", `hello`, "not a k8sm agent message"},
		{"oversized", `{"kind":"Answer","id":"1","answer":{"reason":"` + strings.Repeat("x", MaxSize) + `"}}`, "over"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode([]byte(tc.in))
			if tc.want == "" {
				if err != nil || m == nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestEncodeRoundTripsAndBounds(t *testing.T) {
	m := &Message{Kind: KindAccessReview, ID: "7", AccessReview: &AccessReview{User: User{Name: "kube-apiserver-kubelet-client", Groups: []string{"system:masters"}}, Verb: "get", Subresource: "proxy"}}
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(b)
	if err != nil || back.AccessReview.User.Name != m.AccessReview.User.Name || back.AccessReview.Subresource != "proxy" {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	if _, err := Encode(&Message{Kind: KindAnswer, ID: "8", Answer: &Answer{Reason: strings.Repeat("x", MaxSize)}}); err == nil {
		t.Error("an oversized message was encoded")
	}
}

// The largest parts of each message fit in MaxSize with the JSON around them, PEM's line
// breaks escaped: a message at its bounds is sent, not refused.
func TestBoundedPartsFitInAMessage(t *testing.T) {
	pemOf := func(n int) string { // 64-character lines, as PEM has
		var b strings.Builder
		for b.Len() < n {
			b.WriteString(strings.Repeat("A", 63) + "\n")
		}
		return b.String()[:n]
	}
	for _, m := range []*Message{
		{Kind: KindConfig, ID: "config-2026-01-01T00:00:00.000000000Z", Config: &Config{NodeName: strings.Repeat("n", 253), Port: 65535, ClientCA: pemOf(MaxClientCASize), ServingCertificate: ServingCertificateSigner}},
		{Kind: KindServingCSR, ID: "csr-2026-01-01T00:00:00.000000000Z", ServingCSR: &ServingCSR{Request: pemOf(MaxCSRSize)}},
		{Kind: KindServingCertificate, ID: "csr-2026-01-01T00:00:00.000000000Z", ServingCertificate: &ServingCertificate{Certificate: pemOf(MaxCertificateSize)}},
	} {
		b, err := Encode(m)
		if err != nil {
			t.Errorf("%s at its bounds: %v", m.Kind, err)
			continue
		}
		if _, err := Decode(b); err != nil {
			t.Errorf("%s at its bounds does not decode: %v", m.Kind, err)
		}
	}
}
