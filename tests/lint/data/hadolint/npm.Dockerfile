FROM node:20-alpine AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci
RUN npm install
RUN npm install -g typescript
RUN npm install --save-dev @types/node @scope/pkg@1.2.3 lodash@4
RUN npm install ./local-folder git+https://github.com/a/b#v1 https://x/y.tgz
RUN npm i express
COPY . .
RUN npm run build
FROM nginx:1.25-alpine
COPY --from=build /src/dist /usr/share/nginx/html
COPY --from=builder /x /y
USER root
