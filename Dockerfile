# portlab's container image: what each shard of a Kubernetes rehearsal runs (k8s/README.md).
#
#   docker build -t REGISTRY/portlab:TAG --build-arg VERSION=TAG .
#
# Build stage: a static binary. portlab drives netlink and nftables from Go (no ip, nft
# or tc commands), so nothing of the build toolchain is needed at run time.
FROM golang:1.26-trixie AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/portlab/portlab/cli.Version=${VERSION}" \
      -o /portlab ./cmd/portlab

# Run stage: Debian slim rather than an empty or distroless image, because the manifests
# `portlab k8s job` writes use what it already has: /bin/sh (the wrapper around portlab,
# result upload scripts), mount (making /proc/sys writable without --privileged), sleep
# and tar (the fetch pod, kubectl cp). No packages are added: no nftables or iproute2
# (portlab does not run them), no ca-certificates (portlab talks only to addresses it
# created). Upload tools for --results-upload go in an image built FROM this one.
FROM debian:trixie-slim
COPY --from=build /portlab /usr/local/bin/portlab
# Root: building network namespaces takes CAP_SYS_ADMIN and CAP_NET_ADMIN, which the
# manifests grant to uid 0 only (runAsUser: 0).
ENTRYPOINT ["portlab"]
CMD ["--help"]
