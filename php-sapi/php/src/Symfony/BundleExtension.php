<?php

declare(strict_types=1);

namespace RustRunner\Worker\Symfony;

use Symfony\Component\DependencyInjection\ContainerBuilder;
use Symfony\Component\DependencyInjection\Extension\Extension;

/**
 * The `baldinof_road_runner` configuration of the stand-in bundle: its
 * kernel_reboot options become the `rustrunner.kernel_reboot` parameter that
 * Runner reads.
 *
 * @internal
 */
final class BundleExtension extends Extension
{
    public function load(array $configs, ContainerBuilder $container): void
    {
        $config = $this->processConfiguration(new BundleConfiguration(), $configs);
        // Fails the container build now rather than the first request later.
        new RebootStrategy($config['kernel_reboot']);
        $container->setParameter('rustrunner.kernel_reboot', $config['kernel_reboot']);
    }

    public function getAlias(): string
    {
        return 'baldinof_road_runner';
    }

    public function getConfiguration(array $config, ContainerBuilder $container): BundleConfiguration
    {
        return new BundleConfiguration();
    }
}
