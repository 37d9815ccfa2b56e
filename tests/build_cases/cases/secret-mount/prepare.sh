printf s3cr3t-value-42 > ../token.txt
