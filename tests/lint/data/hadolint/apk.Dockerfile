FROM alpine:3.19
RUN apk add --no-cache curl
RUN apk add --update bash=5.2 \
    && apk add --virtual .build-deps gcc=13 musl-dev~1.2 \
    && apk del .build-deps
RUN apk --no-cache add git
RUN apk add -X http://mirror/edge/main --no-cache openssl=3 ./pkg.apk
RUN set -ex && apk add --no-cache --repository http://x y=1 && echo done | tee /log
ONBUILD RUN apk add jq
