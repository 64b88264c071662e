# ferrotel container image: a release build in a Rust image, run from a distroless image as non-root.
#
#   docker build -t ferrotel .
#   docker run -p 4317:4317 -p 4318:4318 -p 8888:8888 -p 13133:13133 \
#     -e BACKEND_OTLP_ENDPOINT=backend:4317 ferrotel
#
# The default config is config/gateway.yaml (every listener on 0.0.0.0). Mount another file and pass
# `--config /path/to/it` to replace it, e.g. config/agent.yaml for an agent.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# The lock file is the one committed. Profile `dist` (Cargo.toml): fat LTO, one codegen unit, code laid
# out hot-first (build.rs, layout/ferrotel.order); slower to build than `--release`, smaller and faster
# to run. The build keeps the symbol table (layout/generate.sh reads it); the image's copy is stripped.
COPY . .
RUN cargo build --profile dist --locked --bin ferrotel \
 && cp target/dist/ferrotel /usr/local/bin/ferrotel \
 && strip /usr/local/bin/ferrotel \
 && /usr/local/bin/ferrotel --version

# glibc, libgcc and OpenSSL's libssl3 (librdkafka's TLS, feature `kafka`; everything else is rustls);
# no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/ferrotel /usr/local/bin/ferrotel
COPY --from=build /src/config/gateway.yaml /etc/ferrotel/config.yaml
COPY --from=build /src/config/agent.yaml /etc/ferrotel/agent.yaml
USER nonroot:nonroot
# OTLP gRPC, OTLP HTTP, own metrics (Prometheus), health check.
EXPOSE 4317 4318 8888 13133
# Distroless has no curl: ferrotel checks its own health_check extension.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/ferrotel", "healthcheck", "--url", "http://127.0.0.1:13133/"]
ENTRYPOINT ["/usr/local/bin/ferrotel"]
CMD ["--config", "/etc/ferrotel/config.yaml"]
