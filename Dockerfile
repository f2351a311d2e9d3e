# syntax=docker/dockerfile:1
# tzurot: the host and its first-party plugins, built with the same make
# targets as a checkout (`make dist` runs `make build plugins` and lays them out), run as a
# non-root user on Debian slim. docs/operations.md "Packaging" explains it;
# host/cmd/tzurot/packaging_test.go lints this file.

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so a source change does not download them again. The Go
# module and build caches live in BuildKit cache mounts, kept between builds.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    make dist DIST=/out

FROM debian:bookworm-slim AS run
# CA certificates for HTTPS to Discord and the providers; nothing else.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /opt/tzurot --shell /usr/sbin/nologin tzurot \
    && mkdir -p /opt/tzurot/data \
    && chown tzurot:tzurot /opt/tzurot/data
COPY --from=build /out/ /opt/tzurot/
WORKDIR /opt/tzurot
# plugins.toml's cache_dir (data/wasm-cache): compiled plugins survive a
# restart in this volume, so the second start skips compiling.
VOLUME ["/opt/tzurot/data"]
USER tzurot:tzurot
ENV TZUROT_PLUGINS=/opt/tzurot/plugins.toml \
    TZUROT_METRICS_ADDR=:9090 \
    LOG_FORMAT=json
EXPOSE 9090
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD ["/opt/tzurot/bin/tzurot", "ready"]
ENTRYPOINT ["/opt/tzurot/bin/tzurot"]
CMD ["serve"]
