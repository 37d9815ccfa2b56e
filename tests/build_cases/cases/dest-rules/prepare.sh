echo a > a.txt && mkdir -p dir/sub && echo s > dir/sub/s.txt && echo t > dir/t.txt
