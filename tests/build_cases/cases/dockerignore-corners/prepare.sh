mkdir -p a/b/c build/keep vendor/x && echo 1 > a/b/c/deep.tmp && echo 2 > a/keep.txt && echo 3 > build/out.bin && echo 4 > build/keep/me.txt && echo 5 > vendor/x/v.go && echo 6 > top.tmp && echo 7 > README.md
printf '%s\n' '**/*.tmp' '/build' '!build/keep' 'vendor/' '# comment' '' 'Dockerfile' > .dockerignore
