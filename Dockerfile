# The dsim image: the `dsim` binary and the ready scenarios, nothing else.
#
#   docker build -t registry.example/dsim:$(git rev-parse --short HEAD) .
#   docker run --rm registry.example/dsim:<tag> run scenarios/paxos-leader-crash.toml --out /tmp/r
#
# The build uses the committed Cargo.lock (--locked fails instead of resolving anew), so
# every image of one commit holds the same binary and seeded runs match across machines.
# deploy/k8s-sweep-job.yaml runs this image; crates/dsim-cli/tests/deploy.rs checks
# this file's shape (stages, --locked, what the runtime stage copies).

FROM rust:1.95-trixie AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p dsim-cli

FROM debian:trixie-slim AS runtime
COPY --from=build /src/target/release/dsim /usr/local/bin/dsim
WORKDIR /dsim
COPY scenarios/ scenarios/
ENTRYPOINT ["dsim"]
CMD ["--help"]
