# syntax=docker/dockerfile:1
# Build stage: install every dependency, compile TypeScript to dist/.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY detectors ./detectors
COPY connectors ./connectors
RUN npm run build && npm prune --omit=dev --ignore-scripts

# Runtime stage: production dependencies and dist/ only, as a non-root user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
# The audit log (audit.path, relative by default) is written under the working directory: mount a volume here.
RUN mkdir -p /var/lib/vigil && chown node:node /var/lib/vigil
WORKDIR /var/lib/vigil
USER node
# 4317 OTLP/gRPC, 4318 OTLP/HTTP, 8080 control API, dashboard and /metrics
EXPOSE 4317 4318 8080
HEALTHCHECK --interval=30s --timeout=3s CMD node -e "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "/app/bin/vigil.js"]
CMD ["serve", "--config", "/etc/vigil/vigil.yaml"]
