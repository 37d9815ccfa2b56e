FROM debian:12
ONBUILD RUN apt-get update && apt-get install -y curl
ONBUILD RUN cd /x && sudo apt install y | cat
ONBUILD RUN pip install flask && npm install express
ONBUILD RUN apk add bash
ONBUILD COPY a b
ONBUILD WORKDIR rel
ONBUILD ADD x y
ONBUILD USER root
ONBUILD CMD echo hi
ONBUILD COPY --from=nope a /b
ONBUILD MAINTAINER x
ONBUILD FROM foo
USER app
