# hotlined on Debian 12.  Build: docker build -t hotlined .
FROM debian:12-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
        gcc make pkg-config libc6-dev libevent-dev libjson-c-dev libpq-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY daemon/ daemon/
COPY clients/ clients/
RUN make build/hotlined build/hotlinectl

# The one-shot set-up of docker-compose.yml (contrib/compose/setup.sh):
# migrations, the daemon role, keys, configuration, client registration.
#   docker build --target setup -t hotlined-setup .
FROM debian:12-slim AS setup
RUN apt-get update && apt-get install -y --no-install-recommends \
        postgresql-client libevent-2.1-7 libevent-openssl-2.1-7 libjson-c5 libpq5 libssl3 \
        ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/hotlinectl /usr/local/bin/hotlinectl
COPY sql/ /sql/
COPY contrib/compose/setup.sh contrib/compose/clients.sh /usr/local/lib/hotlined/
ENTRYPOINT ["bash", "/usr/local/lib/hotlined/setup.sh"]

# The daemon (the default target).
FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
        libevent-2.1-7 libevent-openssl-2.1-7 libjson-c5 libpq5 libssl3 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin hotlined
COPY --from=build /src/build/hotlined /usr/local/sbin/hotlined
COPY --from=build /src/build/hotlinectl /usr/local/bin/hotlinectl
USER hotlined
EXPOSE 12355 9355
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsk https://127.0.0.1:12355/healthz || exit 1
ENTRYPOINT ["/usr/local/sbin/hotlined", "-d"]
CMD ["-f", "/etc/hotlined/hotlined.conf"]
