// Package taskclient creates MesosTasks without decoding the API server's copy of each.
//
// The answer to a create is the object as stored, and for a custom resource that is JSON,
// managed fields and all: the manager decoded it for every MesosTask it wrote (about 5% of
// its CPU in a burst), though it had sent every field of it but the metadata the API
// server sets. A MesosTask is now created asking for that metadata alone, as protobuf
// (PartialObjectMetadata, which the API server serves for custom resources too), and the
// metadata is filled into the object sent. Every other call goes to the client wrapped.
package taskclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// accept asks for the object's metadata, as protobuf, or as JSON from an API server that
// cannot encode it so.
const accept = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1," +
	"application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"

// Wrap returns c, but for the create of a MesosTask, which goes through a REST client of
// cfg over httpClient (the manager's, so that it shares its connections).
func Wrap(c client.Client, cfg *rest.Config, httpClient *http.Client) (client.Client, error) {
	mcfg := metadata.ConfigFor(cfg)
	mcfg.APIPath = "/apis"
	mcfg.GroupVersion = &mesosv1alpha1.GroupVersion
	rc, err := rest.RESTClientForConfigAndClient(mcfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("making the MesosTask client: %w", err)
	}
	return &taskClient{Client: c, rest: rc}, nil
}

type taskClient struct {
	client.Client
	rest rest.Interface
}

// Create creates obj; a MesosTask (created without options) gets the metadata the API
// server set, and keeps the rest as it was sent.
func (c *taskClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	mt, ok := obj.(*mesosv1alpha1.MesosTask)
	if !ok || len(opts) > 0 {
		return c.Client.Create(ctx, obj, opts...)
	}
	sent := *mt
	sent.TypeMeta = metav1.TypeMeta{APIVersion: mesosv1alpha1.GroupVersion.String(), Kind: "MesosTask"}
	body, err := json.Marshal(&sent)
	if err != nil {
		return err
	}
	var stored metav1.PartialObjectMetadata
	err = c.rest.Post().Namespace(mt.Namespace).Resource("mesostasks").
		SetHeader("Content-Type", "application/json").SetHeader("Accept", accept).
		Body(body).Do(ctx).Into(&stored)
	if err != nil {
		return err
	}
	if stored.UID == "" || stored.ResourceVersion == "" {
		return fmt.Errorf("creating MesosTask %s/%s: the API server's answer has no metadata", mt.Namespace, mt.Name)
	}
	mt.ObjectMeta = stored.ObjectMeta
	return nil
}
