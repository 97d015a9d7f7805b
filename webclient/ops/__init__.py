"""Running the client in production: health and readiness endpoints, Prometheus metrics,
graceful shutdown (webclient/ops/lifecycle.py wraps the ASGI application), hashed and
compressed static files, and the local cluster of `make serve-cluster` (nginx in front of
several daphne processes). Nothing below this package imports it."""
