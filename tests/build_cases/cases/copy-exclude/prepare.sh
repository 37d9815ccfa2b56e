mkdir -p src/tmp src/lib && echo m > src/main.go && echo l > src/debug.log && echo t > src/tmp/x && echo k > src/lib/k.go && echo n > src/lib/nested.log
