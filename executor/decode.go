package executor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// What DecodePod checks besides the JSON: the names the runtimes make paths of (the
// process runtime's sandbox directories per container and volume, the kubelet runtime's
// manifest file per pod UID) cannot leave their directory, and no quantity makes the
// decoder itself spin.

// maxQuantityExponent is the largest exponent a resource quantity may be written with:
// a double's. apimachinery's quantity parser expands a number digit by digit to its
// exponent, so that 12345678901234567890e200000 takes seconds and 1e-2000000000 for ever.
const maxQuantityExponent = 308

// quantityMaps are the maps (ResourceLists) whose values are quantities, and
// quantityKeys the fields that are, in a pod and its status.
var (
	quantityMaps = map[string]bool{"requests": true, "limits": true, "overhead": true, "allocatedResources": true, "capacity": true}
	quantityKeys = map[string]bool{"sizeLimit": true, "divisor": true, "quantity": true, "perPod": true, "perContainer": true}
)

// exponentOf matches a number with an exponent, the exponent in its group.
var exponentOf = regexp.MustCompile(`^\s*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE]([+-]?[0-9]+)\s*$`)

// jsonLevel is one object or array the scan is in.
type jsonLevel struct {
	object  bool
	key     string // an object's latest key
	wantKey bool   // an object's next string is a key
}

// checkQuantityExponents refuses data in which a quantity has an exponent beyond
// maxQuantityExponent, before json.Unmarshal parses it. Malformed JSON is left to
// json.Unmarshal to report.
func checkQuantityExponents(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []jsonLevel
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		n := len(stack)
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				stack = append(stack, jsonLevel{object: d == '{', wantKey: d == '{'})
				continue
			}
			stack = stack[:n-1]
			valueDone(stack)
			continue
		}
		if n > 0 && stack[n-1].object && stack[n-1].wantKey {
			stack[n-1].key, _ = tok.(string)
			stack[n-1].wantKey = false
			continue
		}
		var text string
		switch v := tok.(type) {
		case string:
			text = v
		case json.Number:
			text = string(v)
		}
		if text != "" && quantityField(stack) {
			if m := exponentOf.FindStringSubmatch(text); m != nil && exponentBeyond(m[1], maxQuantityExponent) {
				return fmt.Errorf("%s: the quantity %.40q has an exponent beyond ±%d, more than any resource needs", stack[n-1].key, text, maxQuantityExponent)
			}
		}
		valueDone(stack)
	}
}

// valueDone notes that a value ended: in an object, a key comes next.
func valueDone(stack []jsonLevel) {
	if n := len(stack); n > 0 && stack[n-1].object {
		stack[n-1].wantKey = true
	}
}

// quantityField says whether the value the scan is at is a quantity.
func quantityField(stack []jsonLevel) bool {
	n := len(stack)
	if n == 0 || !stack[n-1].object {
		return false
	}
	return quantityKeys[stack[n-1].key] || (n >= 2 && stack[n-2].object && quantityMaps[stack[n-2].key])
}

// exponentBeyond says whether the decimal exponent digits (with an optional sign) are
// beyond ±limit, without parsing them into a number that could overflow.
func exponentBeyond(exp string, limit int) bool {
	digits := strings.TrimLeft(strings.TrimLeft(exp, "+-"), "0")
	if len(digits) > 9 {
		return true
	}
	v := 0
	for _, c := range digits {
		v = v*10 + int(c-'0')
	}
	return v > limit
}

// safeUID matches a pod UID that is safe as part of a file name (the kubelet runtime's
// manifest, k8sm-<uid>.json): the API server's UUIDs, and nothing with a path separator.
var safeUID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// checkNames refuses a pod whose UID or container or volume names are not what the API
// server allows (the runtimes make file paths of them), or repeat.
func checkNames(pod *corev1.Pod) error {
	if pod.UID != "" && !safeUID.MatchString(string(pod.UID)) {
		return fmt.Errorf("metadata.uid: %.80q is not a UID", pod.UID)
	}
	seen := map[string]bool{}
	for _, group := range []struct {
		field string
		cs    []corev1.Container
	}{{"spec.initContainers", pod.Spec.InitContainers}, {"spec.containers", pod.Spec.Containers}} {
		for i := range group.cs {
			if err := checkName(fmt.Sprintf("%s[%d].name", group.field, i), group.cs[i].Name, seen); err != nil {
				return err
			}
		}
	}
	seen = map[string]bool{}
	for i := range pod.Spec.Volumes {
		if err := checkName(fmt.Sprintf("spec.volumes[%d].name", i), pod.Spec.Volumes[i].Name, seen); err != nil {
			return err
		}
	}
	return nil
}

// checkName refuses a name that is not a DNS-1123 label, or one seen before.
func checkName(field, name string, seen map[string]bool) error {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return fmt.Errorf("%s: %.80q %s", field, name, errs[0])
	}
	if seen[name] {
		return fmt.Errorf("%s: %q is used twice", field, name)
	}
	seen[name] = true
	return nil
}
