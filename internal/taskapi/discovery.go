package taskapi

import (
	"mime"
	"net/http"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// verbs are what the served resource answers.
var verbs = metav1.Verbs{"get", "list", "watch"}

// names are the resource's other names, its short names and categories. While the
// MesosTask CRD is installed beside it (the MesosTasks written to the API server), none:
// its short name mt and category k8sm are the CRD's, which kubectl prefers (its group's
// priority is above the APIService's: config/tasks-api); the same names here would
// have kubectl warn that they could mean either, and list MesosTasks twice in kubectl
// get k8sm (name the served ones in full: kubectl get mesostasks.tasks.mesos.k8sm.io).
// Where the served MesosTasks are the only ones (the MesosTasks in memory, no CRD), they
// take the CRD's.
func (h *Handler) names() (shortNames, categories []string) {
	if h.Sole {
		return []string{"mt"}, []string{"k8sm"}
	}
	return nil, nil
}

// aggregatedDiscovery is the media type of aggregated discovery, which kube-apiserver
// asks an aggregated server for first.
const aggregatedDiscovery = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

func groupVersionForDiscovery() metav1.GroupVersionForDiscovery {
	return metav1.GroupVersionForDiscovery{GroupVersion: GroupVersion.String(), Version: GroupVersion.Version}
}

func apiGroup() metav1.APIGroup {
	return metav1.APIGroup{
		TypeMeta:         metav1.TypeMeta{APIVersion: "v1", Kind: "APIGroup"},
		Name:             GroupVersion.Group,
		Versions:         []metav1.GroupVersionForDiscovery{groupVersionForDiscovery()},
		PreferredVersion: groupVersionForDiscovery(),
	}
}

// discovery answers /apis, the group's path and the version's.
func (h *Handler) discovery(w http.ResponseWriter, r *http.Request, path string) {
	switch path {
	case "/apis":
		if wantsAggregated(r.Header.Get("Accept")) {
			w.Header().Set("Content-Type", aggregatedDiscovery)
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusOK)
			writeBody(w, h.aggregated())
			return
		}
		writeJSON(w, http.StatusOK, &metav1.APIGroupList{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "APIGroupList"},
			Groups:   []metav1.APIGroup{apiGroup()},
		})
	case groupPath:
		g := apiGroup()
		writeJSON(w, http.StatusOK, &g)
	case versionPath:
		shortNames, categories := h.names()
		writeJSON(w, http.StatusOK, &metav1.APIResourceList{
			TypeMeta:     metav1.TypeMeta{APIVersion: "v1", Kind: "APIResourceList"},
			GroupVersion: GroupVersion.String(),
			APIResources: []metav1.APIResource{{
				Name: Resource, SingularName: "mesostask", Namespaced: true, Kind: Kind,
				Verbs: verbs, ShortNames: shortNames, Categories: categories,
			}},
		})
	}
}

// wantsAggregated says whether an Accept header asks for aggregated discovery first.
func wantsAggregated(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if mt == "application/json" && params["g"] == "apidiscovery.k8s.io" && params["v"] == "v2" && params["as"] == "APIGroupDiscoveryList" {
			return true
		}
		if mt == "application/json" || mt == "*/*" {
			return false
		}
	}
	return false
}

// aggregated is the group's aggregated discovery document.
func (h *Handler) aggregated() *apidiscoveryv2.APIGroupDiscoveryList {
	shortNames, categories := h.names()
	return &apidiscoveryv2.APIGroupDiscoveryList{
		TypeMeta: metav1.TypeMeta{APIVersion: "apidiscovery.k8s.io/v2", Kind: "APIGroupDiscoveryList"},
		Items: []apidiscoveryv2.APIGroupDiscovery{{
			ObjectMeta: metav1.ObjectMeta{Name: GroupVersion.Group},
			Versions: []apidiscoveryv2.APIVersionDiscovery{{
				Version:   GroupVersion.Version,
				Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent,
				Resources: []apidiscoveryv2.APIResourceDiscovery{{
					Resource:         Resource,
					ResponseKind:     &metav1.GroupVersionKind{Group: GroupVersion.Group, Version: GroupVersion.Version, Kind: Kind},
					Scope:            apidiscoveryv2.ScopeNamespace,
					SingularResource: "mesostask",
					Verbs:            verbs,
					ShortNames:       shortNames,
					Categories:       categories,
				}},
			}},
		}},
	}
}
