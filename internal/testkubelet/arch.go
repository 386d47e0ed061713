package testkubelet

import "runtime"

func goarch() string { return runtime.GOARCH }
