FROM debian:12
RUN apt-get update && apt-get install -y curl wget=1.21 && rm -rf /var/lib/apt/lists/*
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates=20230311 \
      git
RUN apt-get -t bookworm-backports install -y foo=1 ./local.deb
RUN apt-get install -o APT::Install-Recommends=false -y bar=2
RUN apt install -y vim
RUN echo "apt-get install nothing" && true
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends "libssl3=3.0.11" ; \
    rm -rf /var/lib/apt/lists/*
RUN sudo apt-get update
RUN --mount=type=cache,target=/var/lib/apt/lists apt-get update && apt-get install -y --no-install-recommends a=1
FROM debian:12 AS final
RUN apt-get update && apt-get install -y --no-install-recommends z=1
