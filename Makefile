# The commands of the README: `make serve`, `make serve-cluster` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: serve serve-cluster test lint bench chromium nginx gettext messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[demo]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-demo

# The js peers of the end-to-end encryption tests (tests/peers): matrix-js-sdk in Node 20+.
JS_PEER := tests/peers/js

$(JS_PEER)/node_modules/.installed: $(JS_PEER)/package.json $(JS_PEER)/package-lock.json
	npm ci --prefix $(JS_PEER) --no-audit --no-fund
	touch $@

# axe-core for the accessibility checks of the browser tests (tests/browser/test_a11y.py).
A11Y := tests/a11y

$(A11Y)/node_modules/.installed: $(A11Y)/package.json $(A11Y)/package-lock.json
	npm ci --prefix $(A11Y) --no-audit --no-fund
	touch $@

serve: $(VENV)/.installed-demo
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python -m webclient.demo.serve

# The production topology on this machine: nginx in front of two daphne processes on the
# local PostgreSQL and Redis (webclient/ops/cluster.py; https://localhost:8443).
serve-cluster: $(VENV)/.installed-demo nginx
	$(BIN)/python -m webclient.ops.cluster

# Debian's nginx, with the Brotli module the site uses (deploy/nginx/webclient.conf). The tests
# and serve-cluster run private instances on their own ports, not the package's service.
nginx:
	@test -x /usr/sbin/nginx -a -f /etc/nginx/modules-enabled/50-mod-http-brotli-static.conf || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq nginx libnginx-mod-http-brotli-static; }

chromium:
	@test -x /usr/bin/chromium || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }

# GNU gettext (msgfmt, xgettext, msgattrib): Django's makemessages and compilemessages use it,
# and tests/unit/test_translations.py checks the catalogs with it. The compiled .mo files are
# committed (a clean clone serves every language without gettext); the tests fail when one
# is stale.
gettext:
	@command -v msgfmt >/dev/null && command -v xgettext >/dev/null && command -v msgattrib >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq gettext; }

# After changing user-visible strings: update every catalog (then translate what is new in
# locale/*/LC_MESSAGES/*.po and run this again to compile them).
LOCALES := $(notdir $(wildcard locale/*))
MESSAGES_IGNORE := --ignore=.venv --ignore=tests --ignore=data --ignore=benchmarks --ignore=node_modules --ignore=deploy --ignore=docs
messages: $(VENV)/.installed-test gettext
	$(BIN)/python manage.py makemessages $(addprefix -l ,$(LOCALES)) $(MESSAGES_IGNORE) --no-obsolete
	$(BIN)/python manage.py makemessages -d djangojs $(addprefix -l ,$(LOCALES)) $(MESSAGES_IGNORE) --no-obsolete
	$(BIN)/python manage.py compilemessages --ignore=.venv

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(VENV)/.installed-test $(JS_PEER)/node_modules/.installed $(A11Y)/node_modules/.installed chromium nginx gettext lint
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-test chromium
	$(BIN)/python benchmarks/latency.py
