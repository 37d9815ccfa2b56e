mkdir -p dir && echo real > dir/real && ln -s real dir/inner-link && echo target > file && ln -s file link-to-file
