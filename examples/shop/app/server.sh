#!/bin/sh
# Answers every HTTP request with the shop's status (busybox httpd would do, but this is
# the smallest thing that shows a runtime stage works).
echo "shop: ok (deps: $(wc -l < /srv/shop/deps.lock))"
