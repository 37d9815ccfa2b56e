FROM python:3.12-slim
WORKDIR /app
RUN pip install flask
RUN pip install --no-cache-dir flask==3.0.0 "requests>=2"
RUN pip3 install --no-cache-dir -r requirements.txt
RUN python -m pip install --upgrade pip
RUN python3 -m pip install --no-cache-dir -c constraints.txt django
RUN pip install --no-cache-dir git+https://github.com/x/y@v1 ./dist/pkg.whl /tmp/x.tar.gz
RUN pip install --no-cache-dir -e . && pip install --no-cache-dir --index-url https://x/simple pkg==1
RUN pipx install black
RUN PIP_NO_CACHE_DIR=1 pip install poetry==1.8
FROM python:3.12-slim AS second
ENV PIP_NO_CACHE_DIR=true
RUN pip install uvicorn==0.30
FROM second
RUN pip install gunicorn==22
