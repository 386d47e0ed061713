// Command bundle writes the operator's OLM bundle (bundle/ and bundle.Dockerfile) from
// config/manifests and config/default: `make bundle VERSION=0.1.0`.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/k8sm/k8sm/internal/bundle"
)

func main() {
	var o bundle.Options
	var channels string
	flag.StringVar(&o.Root, "root", ".", "The repository's root directory.")
	flag.StringVar(&o.Version, "version", "0.1.0", "The operator's version (semver, no leading v).")
	flag.StringVar(&o.Image, "image", "", "The manager image. Default ghcr.io/k8sm/k8sm:v<version>.")
	flag.StringVar(&channels, "channels", "alpha", "Comma-separated OLM channels; the first is the default.")
	flag.Parse()
	if o.Image == "" {
		o.Image = "ghcr.io/k8sm/k8sm:v" + o.Version
	}
	o.Channels = strings.Split(channels, ",")
	files, err := bundle.Render(o)
	if err == nil {
		err = bundle.Write(o.Root, files)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bundle:", err)
		os.Exit(1)
	}
	fmt.Printf("Wrote %s/ and %s for k8sm v%s (%s)\n", bundle.Dir, bundle.Dockerfile, o.Version, o.Image)
}
