# hadolint global ignore=DL3006
FROM debian
# hadolint ignore=DL3008,DL3015
RUN apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*
# hadolint ignore=DL3003
RUN cd /x && apt-get install -y wget
