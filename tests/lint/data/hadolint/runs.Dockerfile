FROM alpine:3.19
# one
RUN echo one
# two

RUN echo two
RUN echo three && echo four
RUN --mount=type=cache,target=/x echo five
RUN --mount=type=cache,target=/x echo six
ENV A=b
RUN echo seven
RUN ["echo", "eight"]
# hadolint ignore=DL3059
RUN echo nine
RUN echo ten
USER root:root
