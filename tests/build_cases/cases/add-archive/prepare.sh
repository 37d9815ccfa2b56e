mkdir -p b/inner && echo one > b/inner/one.txt && echo two > b/two.txt && tar -czf bundle.tar.gz -C b . && rm -rf b && echo plain > plain.txt
