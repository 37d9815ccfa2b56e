FROM debian:12
RUN curl -sL https://x | bash
RUN cd /tmp && make
RUN (cd /tmp; make) || exit 1
RUN if [ -f x ]; then cd y; fi
RUN for i in 1 2; do echo "$i" | grep 1; done
RUN echo "a | b" && echo 'c | d'
RUN echo $(ls | wc -l) > /count
RUN x=1 y="$(uname -m)" sh -c 'echo $x'
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN wget -O- https://y | tar xz
RUN echo a \
    | cat
FROM debian:12 AS other
RUN ps aux | grep x
SHELL ["/bin/sh", "-c"]
RUN ls | cat
RUN echo "unterminated
