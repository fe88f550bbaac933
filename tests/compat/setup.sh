#!/usr/bin/env bash
# Rebuild /tmp/compat/app{,36}/vendor from the fetched bare mirrors (no Composer).
#  app   : spiral/roadrunner-worker v3.4.0, spiral/roadrunner-http v3.4.0   (tagged releases)
#  app36 : same + Worker.php / HttpWorker.php 3.5+/3.6 from the code index (overlay-3.6/, kept as files)
set -euo pipefail
M=/work/.mirror; S=/tmp/compat/vendor-src
x(){ [ -d "$S/$2" ] || { mkdir -p "$S/$2"; git --git-dir=$M/$1/repo archive "$3" | tar -x -C "$S/$2"; }; }
x roadrunner-php+worker  worker-v3.4.0          v3.4.0
x roadrunner-php+http    http-v3.4.0            v3.4.0
x roadrunner-php+goridge goridge-v4.2.0         v4.2.0
x Nyholm+psr7            psr7-1.8.2             1.8.2
x php-fig+log            psr-log-3.0.2          3.0.2
x php-fig+http-message   psr-http-message-2.0   2.0
x php-fig+http-factory   psr-http-factory-1.1.0 1.1.0
x symfony+polyfill-php83 polyfill-php83-v1.29.0 v1.29.0
mk(){ # app dir, overlay?
  local V=$1/vendor; rm -rf "$V"; mkdir -p "$V"/{spiral,nyholm,psr,symfony}
  cp -r $S/worker-v3.4.0  $V/spiral/roadrunner-worker
  cp -r $S/http-v3.4.0    $V/spiral/roadrunner-http
  cp -r $S/goridge-v4.2.0 $V/spiral/goridge
  cp -r $S/psr7-1.8.2     $V/nyholm/psr7
  cp -r $S/psr-log-3.0.2  $V/psr/log
  cp -r $S/psr-http-message-2.0   $V/psr/http-message
  cp -r $S/psr-http-factory-1.1.0 $V/psr/http-factory
  cp -r $S/polyfill-php83-v1.29.0 $V/symfony/polyfill-php83
  if [ "$2" = 36 ]; then
    cp $S/overlay-3.6/worker/src/Worker.php   $V/spiral/roadrunner-worker/src/Worker.php
    cp $S/overlay-3.6/http/src/HttpWorker.php $V/spiral/roadrunner-http/src/HttpWorker.php
  fi
  cp /tmp/compat/autoload.php $V/autoload.php
}
mk /tmp/compat/app 34
mk /tmp/compat/app36 36
echo "vendor trees rebuilt"
