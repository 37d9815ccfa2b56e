mkdir -p a/b c && echo x > a/b/x.txt && echo y > c/y.txt
