# The production image: nothing but the static (musl) binary built by
# `cargo xtask docker build`, a data directory for the default SQLite file, and a
# non-root user. No shell, no package manager, no libc: the image is the binary.
FROM scratch

# The architecture (BuildKit sets TARGETARCH itself; `cargo xtask docker build` passes it
# to the classic builder). Labelled first, so each architecture has its own layer cache:
# the classic builder would otherwise reuse an amd64 layer for an arm64 image and stop.
ARG TARGETARCH=amd64
LABEL io.oc-lettings.architecture="${TARGETARCH}"

ARG GIT_SHA=dev
ARG BUILD_TIME=unknown
# The newest migration the binary embeds (diesel's version): `deploy` and `rollback` can
# tell, from the registry alone, whether a target release knows the live schema.
ARG NEWEST_MIGRATION=unknown
# The static binary of the image's architecture (`cargo xtask docker build --platform …`
# passes the arm64 one for linux/arm64).
ARG BINARY=target/image/x86_64-unknown-linux-musl/release/oc-lettings
LABEL org.opencontainers.image.title="oc-lettings" \
      org.opencontainers.image.description="Orange County Lettings" \
      org.opencontainers.image.revision="${GIT_SHA}" \
      org.opencontainers.image.created="${BUILD_TIME}" \
      io.oc-lettings.newest-migration="${NEWEST_MIGRATION}"

# /data is owned by the runtime user, so the default SQLite database can be created there.
COPY --chown=10001:10001 docker/data /data
COPY ${BINARY} /oc-lettings

USER 10001:10001
WORKDIR /data
# The release's identity, read by the binary at run time (`--version`, Sentry's release):
# not compiled in, so a new commit with no source change relinks nothing.
ENV OC_GIT_SHA=${GIT_SHA} \
    OC_BUILD_TIME=${BUILD_TIME} \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATABASE_URL=sqlite:///data/oc-lettings.sqlite3 \
    LOG_FORMAT=json
EXPOSE 8000
VOLUME ["/data"]
ENTRYPOINT ["/oc-lettings"]
CMD ["serve"]
