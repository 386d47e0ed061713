# Builds the k8sm manager image, and with --target executor the k8sm executor image.
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
WORKDIR /workspace
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/
COPY executor/ executor/
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} go build -trimpath -ldflags='-s -w' -o manager ./cmd/manager \
 && CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} go build -trimpath -ldflags='-s -w' -o k8sm-executor ./cmd/k8sm-executor

# The executor image: agents run /k8sm-executor from it.
FROM gcr.io/distroless/static:nonroot AS executor
WORKDIR /
COPY --from=builder /workspace/k8sm-executor /k8sm-executor
USER 65532:65532
ENTRYPOINT ["/k8sm-executor"]

# The manager image (default target).
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]
