# er-gateway: a multi-stage build. The runtime stage holds production
# dependencies and the compiled JavaScript only, runs as a non-root user, and
# starts node itself (not npm), so SIGTERM reaches the gateway and it drains.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
USER node
EXPOSE 4000 9464
# HOST=0.0.0.0: in a container the gateway serves other hosts; ER_ALLOWED_HOSTS names them.
ENV HOST=0.0.0.0
CMD ["node", "dist/server/main.js"]
