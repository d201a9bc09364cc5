# syntax=docker/dockerfile:1
# Build from the repository root:  docker build -f deploy/order.Dockerfile -t order-service .

# The workspace's locked dependencies (sqlx 0.9) need Rust 1.94 or newer.
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
COPY . .
# The registry and target directory live in BuildKit cache mounts, so they are
# not in any layer: copy the binary out of the cache before the step ends.
RUN --mount=type=cache,id=cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=workspace-target,target=/src/target,sharing=locked \
    cargo build --release --locked -p order-service \
    && install -D -m 0755 target/release/order-service /out/order-service

FROM debian:bookworm-slim AS runtime
# ca-certificates follows the base image; pinning it would only break rebuilds.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin app
COPY --from=builder /out/order-service /usr/local/bin/order-service
USER 10001:10001
ENV RUST_LOG=info \
    APP__HTTP__PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=5 \
    CMD ["/usr/local/bin/order-service", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/order-service"]
