<?php

use Symfony\Component\HttpKernel\Kernel;
use Symfony\Component\Routing\Loader\Configurator\RoutingConfigurator;

// The controllers' #[Route] attributes. Symfony 6.2+ calls this loader type
// "attribute"; 5.4 (Debian's packages, the offline variant) calls it "annotation".
return static function (RoutingConfigurator $routes): void {
    $routes->import('../src/Controller/', Kernel::VERSION_ID >= 60200 ? 'attribute' : 'annotation');
};
