FROM golang:1.22 AS build
WORKDIR /src
COPY . .
RUN go mod download
RUN go build -o /out/app ./cmd/app
FROM golang:1.22 AS unused
RUN echo never used
FROM build AS test
RUN go test ./...
FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/app /app
COPY --from=test /src/report /report
USER nonroot:nonroot
ENTRYPOINT ["/app"]
