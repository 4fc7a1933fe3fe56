# Cakemail SMTP Gateway: a production image. Build: `docker build -t cakemail-smtp-gateway .`
# (docs/deployment.md). Three stages: compile the TypeScript, install production dependencies
# only, then a runtime with nothing else: compiled JavaScript, production node_modules, tini.
ARG NODE_IMAGE=node:24-bookworm-slim

# --- build: every dependency (the compiler), then `npm run build` → dist/ ---------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- deps: production dependencies only (no compiler, no test tools) ------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- runtime ---------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="cakemail-smtp-gateway" \
      org.opencontainers.image.description="SMTP submission gateway to the Cakemail Email API" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.vendor="Cakemail" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="docker.io/library/node:24-bookworm-slim"

# tini as PID 1: Node does not reap zombies or apply default signal dispositions as PID 1, so
# SIGTERM from the kubelet or `docker stop` goes through tini to Node, which drains and exits 0.
# `-s` (subreaper) keeps that true where tini is not PID 1 (e.g. `buildah run`, no PID namespace).
# npm, npx, corepack and yarn are not needed at run time: removed (smaller, less to patch).
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack /opt/yarn-* \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /usr/local/bin/yarn /usr/local/bin/yarnpkg

WORKDIR /app
COPY --from=deps /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY LICENSE README.md ./

# The spool directory of DELIVERY_MODE=spool with SPOOL_BACKEND=dir, owned by the runtime user.
# Spooled mail must outlive the container, so mount a volume here (the Helm chart mounts an
# emptyDir or a PersistentVolumeClaim; `docker run -v gateway-spool:/var/spool/cakemail-smtp-gateway`). The
# anonymous VOLUME keeps it off the container's writable layer when nothing is mounted.
RUN mkdir -p /var/spool/cakemail-smtp-gateway \
 && chown 1000:1000 /var/spool/cakemail-smtp-gateway \
 && chmod 0700 /var/spool/cakemail-smtp-gateway
VOLUME ["/var/spool/cakemail-smtp-gateway"]

# Listen on every interface inside the container; the admin port (health, metrics) must still
# never be published publicly (the Helm chart's Service leaves it out, its NetworkPolicy limits
# it to the monitoring namespace). The root filesystem can be read-only: nothing is written but
# to /tmp (mount a tmpfs or emptyDir there) and, in spool mode, to SPOOL_DIR (a volume).
ENV NODE_ENV=production \
    SMTP_HOST=0.0.0.0 \
    ADMIN_HOST=0.0.0.0 \
    SMTP_SUBMISSION_PORT=2525 \
    SMTP_SMTPS_PORT=2465 \
    SMTP_ALT_SUBMISSION_PORT=2587 \
    ADMIN_PORT=8080 \
    SPOOL_DIR=/var/spool/cakemail-smtp-gateway \
    TMPDIR=/tmp

# Unprivileged ports only: the process never needs root or CAP_NET_BIND_SERVICE.
EXPOSE 2525 2465 2587 8080
# The `node` user of the base image, by number so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
# For `docker run` (Kubernetes uses the chart's probes instead): ready = listeners up, not draining.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.ADMIN_PORT||8080)+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "-s", "--", "node", "bin/smtp-gateway.js"]
CMD ["serve"]
