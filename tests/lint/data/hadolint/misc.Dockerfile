FROM ubuntu
MAINTAINER someone <a@b.c>
WORKDIR app
WORKDIR /srv
WORKDIR $HOME/x
ADD app.py /srv/
ADD https://example.com/file.tar.gz /tmp/
ADD archive.tar.gz /opt/
CMD python app.py
ENTRYPOINT ["/bin/sh", "-c"]
ENTRYPOINT /entry.sh
USER 0
FROM ubuntu:latest AS two
COPY a.txt rel/
USER app
FROM scratch
COPY --from=two /a /a
COPY --from=0 /b /b
