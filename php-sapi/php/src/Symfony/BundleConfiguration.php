<?php

declare(strict_types=1);

namespace RustRunner\Worker\Symfony;

use Symfony\Component\Config\Definition\Builder\TreeBuilder;
use Symfony\Component\Config\Definition\ConfigurationInterface;

/**
 * baldinof/roadrunner-bundle 3.x's configuration tree, as far as the server's
 * runner supports it:
 *
 * - kernel_reboot (strategy, allowed_exceptions, max_jobs, max_jobs_dispersion): honoured;
 * - default_integrations, metrics.enabled: false, kv.storages: []: accepted;
 * - middlewares, metrics.enabled: true, kv.storages: refused with a message,
 *   they need the real bundle;
 * - should_reboot_kernel (bundle 1.x, still in some guides): refused with the 3.x equivalent.
 *
 * @internal
 */
final class BundleConfiguration implements ConfigurationInterface
{
    private const REAL = ' needs the real baldinof/roadrunner-bundle (composer require baldinof/roadrunner-bundle); '
        . 'the server\'s built-in stand-in only supports kernel_reboot.';

    public function getConfigTreeBuilder(): TreeBuilder
    {
        $tree = new TreeBuilder('baldinof_road_runner');
        $root = $tree->getRootNode();
        $root
            ->beforeNormalization()
                ->ifTrue(static fn ($v) => \is_array($v) && \array_key_exists('should_reboot_kernel', $v))
                ->thenInvalid('"should_reboot_kernel" is a baldinof/roadrunner-bundle 1.x option that 2.x and 3.x removed. '
                    . 'Use "kernel_reboot: { strategy: always }" (reboot after every request) or '
                    . '"kernel_reboot: { strategy: on_exception }" (the default) instead. Got %s')
            ->end()
            ->children()
                ->arrayNode('kernel_reboot')
                    ->addDefaultsIfNotSet()
                    ->children()
                        ->arrayNode('strategy')
                            ->defaultValue(['on_exception'])
                            ->beforeNormalization()->castToArray()->end()
                            ->scalarPrototype()
                                ->validate()
                                    ->ifNotInArray(['on_exception', 'always', 'max_jobs'])
                                    ->thenInvalid('%s: the stand-in supports on_exception, always and max_jobs; a custom strategy service' . self::REAL)
                                ->end()
                            ->end()
                        ->end()
                        ->arrayNode('allowed_exceptions')->defaultValue([])->scalarPrototype()->end()->end()
                        ->integerNode('max_jobs')->defaultValue(1000)->min(1)->end()
                        ->floatNode('max_jobs_dispersion')->defaultValue(0.2)->min(0)->max(0.99)->end()
                    ->end()
                ->end()
                ->arrayNode('middlewares')
                    ->defaultValue([])
                    ->scalarPrototype()->end()
                    ->validate()
                        ->ifTrue(static fn ($v) => $v !== [])
                        ->thenInvalid('middlewares %s' . self::REAL)
                    ->end()
                ->end()
                ->booleanNode('default_integrations')->defaultTrue()->end()
                ->arrayNode('metrics')
                    ->addDefaultsIfNotSet()
                    ->ignoreExtraKeys(false)
                    ->children()
                        ->booleanNode('enabled')
                            ->defaultFalse()
                            ->validate()->ifTrue(static fn ($v) => $v === true)->thenInvalid('metrics.enabled: %s' . self::REAL)->end()
                        ->end()
                    ->end()
                ->end()
                ->arrayNode('kv')
                    ->addDefaultsIfNotSet()
                    ->children()
                        ->arrayNode('storages')
                            ->defaultValue([])
                            ->scalarPrototype()->end()
                            ->validate()->ifTrue(static fn ($v) => $v !== [])->thenInvalid('kv.storages %s' . self::REAL)->end()
                        ->end()
                    ->end()
                ->end()
            ->end();

        return $tree;
    }
}
