<?php

declare(strict_types=1);

namespace RustRunner\Worker\Symfony;

use RustRunner\Worker\Worker;
use Symfony\Component\HttpFoundation\Response;
use Symfony\Component\HttpKernel\Event\ExceptionEvent;
use Symfony\Component\HttpKernel\HttpKernelInterface;
use Symfony\Component\HttpKernel\KernelInterface;
use Symfony\Component\HttpKernel\RebootableInterface;
use Symfony\Component\HttpKernel\TerminableInterface;
use Symfony\Component\Runtime\RunnerInterface;

/**
 * A Symfony Runtime runner serving HTTP requests from the rustrunner server
 * (also reachable as Baldinof\RoadRunnerBundle\Runtime\Runner when that
 * bundle is not installed).
 *
 * The kernel is booted once per worker life. Each request goes straight from
 * the server's native request array into an HttpFoundation Request
 * (HttpFoundationBridge), through HttpKernel::handle(), back as status,
 * headers and body; then terminate(), then the container's services_resetter.
 * The kernel is rebooted inside the life as baldinof/roadrunner-bundle's
 * `kernel_reboot` strategies say (on_exception by default); an exception that
 * escapes the kernel answers 500 and ends the worker life, and the server
 * starts a fresh one.
 */
class Runner implements RunnerInterface
{
    private RebootStrategy $reboot;

    /**
     * @param string $mode RoadRunner's RR_MODE this worker serves; only "http" exists here
     * @param array<string, mixed>|null $kernelReboot kernel_reboot options; null = the
     *        container's `rustrunner.kernel_reboot` parameter, else on_exception
     */
    public function __construct(
        private readonly HttpKernelInterface $kernel,
        private readonly string $mode = 'http',
        private readonly ?array $kernelReboot = null,
    ) {
    }

    public function run(): int
    {
        if ($this->mode !== 'http') {
            if (\getenv('RR_MODE') !== 'http') {
                \error_log(\sprintf(
                    'Missing RR worker implementation for %s mode: rustrunner runs HTTP workers only '
                    . '(RR_MODE=http). Pass getenv(\'RR_MODE\') to the Runner, or set '
                    . 'APP_RUNTIME=Baldinof\RoadRunnerBundle\Runtime\Runtime in server.env and let the runtime create it.',
                    $this->mode,
                ));

                return 1;
            }
            // The guide's bin/roadrunner-worker passes APP_ENV ("dev", "prod")
            // where the bundle's Runner expects RR_MODE; the real bundle then
            // exits with "Missing RR worker implementation for dev mode".
            \error_log(\sprintf(
                'rustrunner: the Runner was given mode "%s" but RR_MODE is "http": serving HTTP. '
                . '(baldinof/roadrunner-bundle\'s Runner takes RR_MODE as its second argument, not APP_ENV; '
                . 'the real bundle would stop here with "Missing RR worker implementation for %s mode".)',
                $this->mode,
                $this->mode,
            ));
        }

        $worker = new Worker();
        if ($this->kernel instanceof KernelInterface) {
            $this->kernel->boot();
        }
        $this->reboot = new RebootStrategy($this->kernelReboot ?? $this->configuredReboot());
        $this->listen();

        $baseServer = $_SERVER;
        while (($r = $worker->nextRequest()) !== null) {
            $sent = false;
            try {
                $request = HttpFoundationBridge::toRequest($r, $baseServer);
                $response = $this->kernel->handle($request);
                [$status, $headers, $body] = HttpFoundationBridge::fromResponse($response);
                $worker->sendResponse($status, $headers, $body);
                $sent = true;
                if ($this->kernel instanceof TerminableInterface) {
                    $this->kernel->terminate($request, $response);
                }
            } catch (\Throwable $e) {
                if (!$sent) {
                    [$status, $headers, $body] = HttpFoundationBridge::fromResponse($this->errorResponse($e));
                    $worker->sendResponse($status, $headers, $body);
                }
                \error_log('rustrunner: uncaught exception in the Symfony worker, the worker restarts: ' . $e);
                $worker->stop();

                return 0;
            }

            $this->resetServices();
            if ($this->reboot->afterRequest() && $this->kernel instanceof RebootableInterface) {
                $this->kernel->reboot(null);
                $this->listen();
            }
        }

        return 0;
    }

    /** The reboot options the offline bundle put in the container, if any. */
    private function configuredReboot(): array
    {
        if (!$this->kernel instanceof KernelInterface) {
            return [];
        }
        $container = $this->kernel->getContainer();
        if ($container->hasParameter('rustrunner.kernel_reboot')) {
            return (array) $container->getParameter('rustrunner.kernel_reboot');
        }

        return [];
    }

    /** Tells the reboot strategy about exceptions that reach the kernel. */
    private function listen(): void
    {
        if (!$this->kernel instanceof KernelInterface) {
            return;
        }
        $container = $this->kernel->getContainer();
        if (!$container->has('event_dispatcher')) {
            return;
        }
        $dispatcher = $container->get('event_dispatcher');
        // Symfony < 7 sends a StreamedResponse from kernel.response (to PHP's
        // output, i.e. the log here); this runner buffers it into the reply instead.
        $streamed = 'Symfony\Component\HttpKernel\EventListener\StreamedResponseListener';
        foreach ($dispatcher->getListeners('kernel.response') as $listener) {
            if (\is_array($listener) && $listener[0] instanceof $streamed) {
                $dispatcher->removeListener('kernel.response', $listener);
            }
        }
        $reboot = $this->reboot;
        $dispatcher->addListener('kernel.exception', static function (ExceptionEvent $event) use ($reboot): void {
            if ($event->getRequestType() === HttpKernelInterface::MAIN_REQUEST) {
                $reboot->exception($event->getThrowable());
            }
        }, 2048);
    }

    private function resetServices(): void
    {
        if (!$this->kernel instanceof KernelInterface) {
            return;
        }
        $container = $this->kernel->getContainer();
        if ($container->has('services_resetter')) {
            $container->get('services_resetter')->reset();
        }
    }

    private function errorResponse(\Throwable $e): Response
    {
        $debug = $this->kernel instanceof KernelInterface && $this->kernel->isDebug();
        $renderer = 'Symfony\Component\ErrorHandler\ErrorRenderer\HtmlErrorRenderer';
        if (\class_exists($renderer)) {
            $flat = (new $renderer($debug))->render($e);

            return new Response($flat->getAsString(), $flat->getStatusCode(), $flat->getHeaders());
        }

        return new Response($debug ? (string) $e : 'Internal Server Error', 500, ['Content-Type' => 'text/plain']);
    }
}
