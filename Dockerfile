# syntax=docker/dockerfile:1
#
# rustrunner's image: a static-ish `rr` (ZTS PHP 8.4 with OPcache and the C
# libraries linked in) on debian:bookworm-slim, with `php` = `rr php-cli`.
#
#   docker build -t rustrunner .
#   docker run --rm -p 8080:8080 -v "$PWD/app:/app" rustrunner
#
# Applications build on it (see episodes/*/Dockerfile):
#   FROM rustrunner
#   COPY --chown=rr:rr app/ /app/
#
# Stages:
#   php-src  the official php:8.4-zts image, used only for its PHP source
#            tarball (/usr/src/php.tar.xz, GPG-verified when that image was
#            built). Its own libphp.so would work too, but it is a shared
#            library linked to Debian's .so libraries (libxml2, ICU, ...)
#            that the final image would then need; a static build of the
#            same source keeps the final image to glibc.
#   build    scripts/build-php.sh builds a ZTS embed libphp.a from it with
#            the project's flags (--disable-zend-signals,
#            --enable-zend-max-execution-timers, ...), then scripts/dist.sh
#            links rr statically against it (RR_STATIC=1).
#   final    debian:bookworm-slim + ca-certificates + rr, non-root user,
#            HEALTHCHECK on the status endpoint.
#
# Build arguments: PHP_IMAGE (another php:*-zts-bookworm image gives another
# PHP: 8.3, 8.5), RUST_IMAGE.

ARG PHP_IMAGE=php:8.4-zts-bookworm
ARG RUST_IMAGE=rust:1-bookworm

FROM ${PHP_IMAGE} AS php-src

FROM ${RUST_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive \
    RUSTRUNNER_CACHE=/opt/rustrunner-cache \
    JOBS=4
# What build-php.sh would install itself, in one cached layer, plus bindgen's
# libclang and automake/libtool for the static oniguruma.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential pkg-config autoconf automake libtool bison re2c dpkg-dev \
      libxml2-dev libsqlite3-dev libssl-dev libonig-dev zlib1g-dev libicu-dev \
      clang libclang-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# 1. The ZTS PHP (a layer of its own: only scripts/build-php.sh invalidates it).
COPY scripts/build-php.sh scripts/build-php.sh
COPY --from=php-src /usr/src/php.tar.xz /tmp/php.tar.xz
# RR_PECL=0: bookworm's PECL sources (apcu 5.1.22, igbinary 3.2.13, redis
# 5.3.7) predate PHP 8.4; the core extensions of issue 14 are still in.
RUN PHP_SRC=/tmp/php.tar.xz RR_PECL=0 scripts/build-php.sh --static \
 && rm -rf /tmp/php.tar.xz "$RUSTRUNNER_CACHE/src" "$RUSTRUNNER_CACHE/build"
# 2. rr against it.
COPY . .
RUN scripts/dist.sh /out \
 && /out/rr php-cli -v \
 && /out/rr php-cli -r 'exit(extension_loaded("Zend OPcache") ? 0 : 1);'

FROM debian:bookworm-slim
# ca-certificates: TLS from PHP (Composer, HTTP clients). Nothing else: rr
# needs only glibc (ldd lists libc, libm, libgcc_s and the loader).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 rr \
 && useradd --system --uid 10001 --gid rr --home-dir /app --no-create-home --shell /usr/sbin/nologin rr \
 && mkdir -p /app && chown rr:rr /app
COPY --from=build /out/rr /usr/local/bin/rr
# `php` is a hard link to rr: `php bin/console ...`, `#!/usr/bin/env php`
# scripts and Composer's `@php` (PHP_BINARY) all run the embedded PHP.
RUN ln /usr/local/bin/rr /usr/local/bin/php \
 && rr php-cli -v
# php.ini where the official php images keep it (both optional): the PHP
# build's own configured path does not exist in this image.
ENV PHPRC=/usr/local/etc/php \
    PHP_INI_SCAN_DIR=/usr/local/etc/php/conf.d
RUN mkdir -p /usr/local/etc/php/conf.d
WORKDIR /app
# The rr user (uid/gid 10001), by number so that Kubernetes' runAsNonRoot
# can check it.
USER 10001:10001
EXPOSE 8080 2114
# The status endpoint: rr's `status: address: 127.0.0.1:2114` (RoadRunner's
# /health?plugin=http; 200 when the http plugin's workers are up). The
# probe uses the embedded PHP, so the image needs no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["php", "-n", "-r", "exit(@file_get_contents('http://127.0.0.1:2114/health?plugin=http') === false ? 1 : 0);"]
STOPSIGNAL SIGTERM
CMD ["rr", "serve"]
