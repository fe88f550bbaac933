<?php

declare(strict_types=1);

namespace RustRunner\Worker\Symfony;

use Symfony\Component\DependencyInjection\Extension\ExtensionInterface;
use Symfony\Component\HttpKernel\Bundle\Bundle as BaseBundle;

/**
 * Stands in for Baldinof\RoadRunnerBundle\BaldinofRoadRunnerBundle when that
 * bundle is not installed (the server aliases the name to this class), so an
 * application's config/bundles.php and config/packages/baldinof_road_runner.yaml
 * work unchanged on the server's own runner. Only the `kernel_reboot` options
 * have an effect; see BundleConfiguration.
 */
class Bundle extends BaseBundle
{
    public function __construct()
    {
        $this->name = 'BaldinofRoadRunnerBundle';
    }

    public function getContainerExtension(): ?ExtensionInterface
    {
        return $this->extension ??= new BundleExtension();
    }
}
